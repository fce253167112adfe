package notice

import "strings"

// Block is one displayable piece of a notice: a heading, a paragraph or a
// list. Notices are plain text with three conventions ("# " and "## "
// headings, "- " or "* " list items, blank lines between paragraphs); there
// is no HTML at all, so the template escapes everything and a notice cannot
// inject markup or script.
type Block struct {
	Kind  string // "h2", "h3", "p" or "ul"
	Text  string
	Items []string // for "ul"
}

// Parse splits a notice body into blocks.
func Parse(body string) []Block {
	var out []Block
	var para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, Block{Kind: "p", Text: strings.Join(para, " ")})
			para = nil
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "## "):
			flush()
			if t := strings.TrimSpace(line[3:]); t != "" {
				out = append(out, Block{Kind: "h3", Text: t})
			}
		case strings.HasPrefix(line, "# "):
			flush()
			if t := strings.TrimSpace(line[2:]); t != "" {
				out = append(out, Block{Kind: "h2", Text: t})
			}
		case strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* "):
			flush()
			item := strings.TrimSpace(line[2:])
			if item == "" {
				continue
			}
			if n := len(out); n > 0 && out[n-1].Kind == "ul" {
				out[n-1].Items = append(out[n-1].Items, item)
			} else {
				out = append(out, Block{Kind: "ul", Items: []string{item}})
			}
		default:
			para = append(para, line)
		}
	}
	flush()
	return out
}
