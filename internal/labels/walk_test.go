package labels

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// emitted is what the program's source can write into an audit entry,
// found by walking it rather than listed by hand, so a new code without
// words fails TestEveryEmittedCodeHasALabel.
type emitted struct {
	actions, purposes, reasons, roles map[string][]string // code -> where
}

// actionLiteral is a string in one of the audit action namespaces.
var actionLiteral = regexp.MustCompile(`^(audit|auth|breakglass|capture|careteam|case|consent|file|members|notice|patient|processor|rehab)\.[a-z_]+(\.[a-z_]+)?$`)

var auditCode = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// walkSource parses every non-test Go file under internal/ and cmd/ and
// collects:
//   - constants of the types access.Action, access.Reason, access.Role and
//     consent.PurposeCode, and untyped string constants named Purpose*,
//     Reason*, reason*, action* or SystemActor;
//   - string literals given as Action, AuditAction, Purpose, Reason or
//     ActorRole of an audit.Event or a gate Check;
//   - the action strings the web routes register (s.phi's third argument)
//     and what functions named auditAction return.
func walkSource(t *testing.T) emitted {
	t.Helper()
	root := filepath.Join("..", "..")
	em := emitted{map[string][]string{}, map[string][]string{}, map[string][]string{}, map[string][]string{}}
	add := func(m map[string][]string, v, where string) {
		if auditCode.MatchString(v) {
			m[v] = append(m[v], where)
		}
	}
	fset := token.NewFileSet()
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
				strings.Contains(path, string(os.PathSeparator)+"labels"+string(os.PathSeparator)) ||
				strings.HasSuffix(filepath.Dir(path), "test") { // test helper packages (patienttest, browsertest...)
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			pkg := f.Name.Name
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GenDecl:
					if n.Tok != token.CONST {
						return true
					}
					for _, spec := range n.Specs {
						vs := spec.(*ast.ValueSpec)
						typ := typeName(vs.Type)
						for i, name := range vs.Names {
							if i >= len(vs.Values) {
								continue
							}
							v, ok := stringLit(vs.Values[i])
							if !ok {
								continue
							}
							where := path + ":" + name.Name
							switch {
							case pkg == "access" && typ == "Action", strings.HasPrefix(name.Name, "action"):
								add(em.actions, v, where)
							case pkg == "access" && typ == "Reason", typ == "access.Reason",
								strings.HasPrefix(name.Name, "Reason"), strings.HasPrefix(name.Name, "reason"):
								add(em.reasons, v, where)
							case pkg == "identity" && typ == "Stage":
								// Sign-in records the stage reached as "stage_" + stage.
								add(em.reasons, "stage_"+v, where)
							case pkg == "access" && typ == "Role", name.Name == "SystemActor":
								add(em.roles, v, where)
							case pkg == "consent" && typ == "PurposeCode", strings.HasPrefix(name.Name, "Purpose"):
								add(em.purposes, v, where)
							}
						}
					}
				case *ast.CompositeLit:
					decision := false
					switch typeName(n.Type) {
					case "audit.Event", "Event", "Check", "patient.Check":
					case "access.Decision", "Decision":
						decision = true
					default:
						return true
					}
					for _, el := range n.Elts {
						kv, ok := el.(*ast.KeyValueExpr)
						if !ok {
							continue
						}
						key, _ := kv.Key.(*ast.Ident)
						v, ok := stringLit(kv.Value)
						if key == nil || !ok {
							continue
						}
						where := fset.Position(kv.Pos()).String()
						if decision && key.Name != "Reason" {
							continue
						}
						switch key.Name {
						case "Action", "AuditAction":
							add(em.actions, v, where)
						case "Purpose":
							add(em.purposes, v, where)
						case "Reason":
							add(em.reasons, v, where)
						case "ActorRole":
							add(em.roles, v, where)
						}
					}
				case *ast.CallExpr:
					// An action handed on as an argument (passList(ctx, p,
					// "patient.search")): any literal in an action namespace.
					for _, a := range n.Args {
						if v, ok := stringLit(a); ok && actionLiteral.MatchString(v) {
							add(em.actions, v, fset.Position(a.Pos()).String())
						}
					}
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "phi" && len(n.Args) >= 3 {
						if v, ok := stringLit(n.Args[2]); ok && v != "" {
							add(em.actions, v, fset.Position(n.Pos()).String())
						}
					}
				case *ast.FuncDecl:
					into := map[string]map[string][]string{"auditAction": em.actions, "ruleReason": em.reasons}[n.Name.Name]
					if into == nil || n.Body == nil {
						return true
					}
					ast.Inspect(n.Body, func(m ast.Node) bool {
						if r, ok := m.(*ast.ReturnStmt); ok {
							for _, res := range r.Results {
								if v, ok := stringLit(res); ok {
									add(into, v, fset.Position(r.Pos()).String())
								}
							}
						}
						return true
					})
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatalf("walk source: %v", err)
		}
	}
	return em
}

func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return x.Name + "." + e.Sel.Name
		}
	}
	return ""
}

func stringLit(e ast.Expr) (string, bool) {
	if call, ok := e.(*ast.CallExpr); ok && len(call.Args) == 1 {
		// string(access.RoleAdmin) and the like name a constant the walk
		// already finds; a conversion of a literal is still a literal.
		e = call.Args[0]
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	v, err := strconv.Unquote(lit.Value)
	return v, err == nil
}

func TestEveryEmittedCodeHasALabel(t *testing.T) {
	em := walkSource(t)
	if len(em.actions) < 40 || len(em.purposes) < 20 || len(em.reasons) < 25 || len(em.roles) < 7 {
		t.Fatalf("the walk found too few codes (actions %d, purposes %d, reasons %d, roles %d): is it still reading the source?",
			len(em.actions), len(em.purposes), len(em.reasons), len(em.roles))
	}
	for _, c := range []struct {
		kind  string
		codes map[string][]string
		known func(string) bool
	}{
		{"action", em.actions, func(c string) bool { _, ok := actions[c]; return ok }},
		{"purpose", em.purposes, func(c string) bool { _, ok := purposes[c]; return ok }},
		{"reason", em.reasons, func(c string) bool { _, ok := reasons[c]; return ok }},
		{"role", em.roles, func(c string) bool { _, ok := roles[c]; return ok }},
	} {
		var missing []string
		for code, where := range c.codes {
			if !c.known(code) {
				missing = append(missing, code+" ("+where[0]+")")
			}
		}
		sort.Strings(missing)
		for _, m := range missing {
			t.Errorf("%s %s has no label", c.kind, m)
		}
	}
}
