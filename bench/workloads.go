package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/custodia-health/custodia/internal/app"
)

// api is a signed-in client of the server under test.
type api struct {
	base   string
	cookie http.Header // the clinician's session cookie
	bearer http.Header // an API token with device scopes
}

// call sends one JSON request and decodes a JSON answer into out (if not
// nil), failing on a status other than want.
func call(cl *http.Client, method, url string, hdr http.Header, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	res, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, url, res.Status, msg)
	}
	if out != nil {
		return json.NewDecoder(res.Body).Decode(out)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return nil
}

// signIn signs in as the demo clinician and creates an API token with the
// scopes the device workloads need.
func signIn(ctx context.Context, base string) (*api, error) {
	cl := &http.Client{Timeout: 30 * time.Second}
	body, _ := json.Marshal(map[string]string{"email": app.DemoAccounts[0].Email, "password": app.DemoPassword})
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/auth/signin", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	var st struct{ Stage string }
	_ = json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	if res.StatusCode != 200 || st.Stage != "full" {
		return nil, fmt.Errorf("sign in as the demo clinician: %s, stage %q", res.Status, st.Stage)
	}
	a := &api{base: base, cookie: http.Header{}}
	for _, c := range res.Cookies() {
		a.cookie.Add("Cookie", c.Name+"="+c.Value)
	}
	var tok struct{ Secret string }
	if err := call(cl, "POST", base+"/api/v1/me/tokens", a.cookie,
		map[string]any{"name": "bench device", "scopes": []string{"rehab:ingest", "media:upload", "records:read"}, "lifetime_days": 1},
		http.StatusCreated, &tok); err != nil {
		return nil, fmt.Errorf("create an API token: %w", err)
	}
	a.bearer = http.Header{"Authorization": {"Bearer " + tok.Secret}}
	return a, nil
}

// orthancHook is the DICOM-ingest comparison with Orthanc (bench/orthanc.go),
// a variable so that a run can leave it out.
var orthancHook = orthancRows

func serverRows(ctx context.Context, c config, s *server, ref *refs) ([]Result, error) {
	d, nPatients, nCases, nDICOM, fileSize := 8*time.Second, 5000, 200, 1000, int64(500<<20)
	if c.quick {
		d, nPatients, nCases, nDICOM, fileSize = 2*time.Second, 1000, 50, 200, 64<<20
	}
	var out []Result
	add := func(r Result) {
		fmt.Fprintf(os.Stderr, "  %-44s ours %-22s ref %-22s ratio %s\n", r.Workload, r.Ours, r.Reference, r.Ratio)
		out = append(out, r)
	}
	g := newGen(c.seed)

	// The HTTP floor: the cheapest request, at each concurrency, is the
	// reference for pages and searches that have no physical counterpart.
	floor := map[int]loadResult{}
	for _, n := range []int{1, 16, 64} {
		r := load(ctx, n, d, 0, func(cl *http.Client, _ int) error { return get(cl, s.url+"/healthz", nil) })
		floor[n] = r
		add(Result{Workload: "HTTP floor: GET /healthz, " + clients(n), Ours: r.String(), Note: errNote(r)})
	}

	a, err := signIn(ctx, s.url)
	if err != nil {
		return out, err
	}

	// Load the synthetic patients through the API.
	profiles := make([]fakePatient, nPatients)
	for i := range profiles {
		profiles[i] = g.patient(i)
	}
	ids := make([]string, nPatients)
	r := load(ctx, 8, 4*time.Minute, nPatients, func(cl *http.Client, i int) error {
		var p struct{ ID string }
		if err := call(cl, "POST", s.url+"/api/v1/patients", a.cookie, profiles[i], http.StatusCreated, &p); err != nil {
			return err
		}
		ids[i] = p.ID
		return nil
	})
	ids = compact(ids)
	add(Result{Workload: fmt.Sprintf("patient create (load %d), 8 clients", nPatients), Ours: r.String(),
		Reference: fmt.Sprintf("%.0f rows/s plain SQLite batched", ref.sqliteInsertPerSec),
		Ratio:     ratio(r.perSec, ref.sqliteInsertPerSec), Note: note("each create is one audited, encrypted transaction", errNote(r))})
	if len(ids) == 0 {
		return out, errors.New("no patient was created; see the server log (-keep)")
	}

	// Cases for a subset of the patients.
	caseIDs := make([]string, min(nCases, len(ids)))
	cases := make([]fakeCase, len(caseIDs))
	for i := range cases {
		cases[i] = g.caseFor()
	}
	r = load(ctx, 8, time.Minute, len(caseIDs), func(cl *http.Client, i int) error {
		var cs struct{ ID string }
		if err := call(cl, "POST", s.url+"/api/v1/patients/"+ids[i]+"/cases", a.cookie, cases[i], http.StatusCreated, &cs); err != nil {
			return err
		}
		caseIDs[i] = cs.ID
		return nil
	})
	caseIDs = compact(caseIDs)
	if len(caseIDs) == 0 {
		return out, fmt.Errorf("no case was created (%d errors)", r.errors)
	}

	// Audited patient reads.
	for _, n := range []int{1, 16, 64} {
		r := load(ctx, n, d, 0, func(cl *http.Client, i int) error {
			return call(cl, "GET", s.url+"/api/v1/patients/"+ids[(i*7919)%len(ids)], a.cookie, nil, 200, nil)
		})
		add(Result{Workload: fmt.Sprintf("audited patient read, %s", clients(n)), Ours: r.String(),
			Reference: fmt.Sprintf("%.0f reads/s plain SQLite point read", ref.sqliteReadPerSec),
			Ratio:     ratio(r.perSec, ref.sqliteReadPerSec), Note: note("throughput ratio; the reference is in-process, ours adds HTTP, access decision, a durable audit append and decryption", errNote(r))})
	}

	// Patient search by surname (the term in the POST body).
	sn := surnames()
	r = load(ctx, 16, d, 0, func(cl *http.Client, i int) error {
		return call(cl, "POST", s.url+"/api/v1/patients/search", a.cookie, map[string]string{"name": sn[i%len(sn)]}, 200, nil)
	})
	add(Result{Workload: "patient search by surname, 16 clients", Ours: r.String(), Reference: fmt.Sprintf("%.0f req/s HTTP floor", floor[16].perSec),
		Ratio: ratio(r.perSec, floor[16].perSec), Note: note(fmt.Sprintf("%d surnames over %d patients", len(sn), len(ids)), errNote(r))})

	// The HTML case page.
	page := http.Header{"Accept": {"text/html"}}
	page["Cookie"] = a.cookie["Cookie"]
	r = load(ctx, 16, d, 0, func(cl *http.Client, i int) error {
		return get(cl, s.url+"/cases/"+caseIDs[i%len(caseIDs)], page)
	})
	add(Result{Workload: "case page (HTML), 16 clients", Ours: r.String(), Reference: fmt.Sprintf("%.0f req/s HTTP floor", floor[16].perSec),
		Ratio: ratio(r.perSec, floor[16].perSec), Note: errNote(r)})

	// Rehab ingest: batches of 500 exercise records with the API token.
	rehab := rehabRows(ctx, c, s, a, g, ids, ref)
	for _, r := range rehab {
		add(r)
	}

	// Upload and view of one large mesh.
	up, err := uploadRows(ctx, s, a, caseIDs[0], fileSize, ref)
	for _, r := range up {
		add(r)
	}
	if err != nil {
		add(Result{Workload: "upload and view", Note: "failed: " + oneLine(err)})
	}

	// DICOM study ingest.
	dr, err := dicomRows(ctx, s, a, g, caseIDs[min(1, len(caseIDs)-1)], profiles[0], nDICOM)
	if err != nil {
		dr = append(dr, Result{Workload: "DICOM study ingest", Note: "failed: " + oneLine(err)})
	}
	for _, r := range dr {
		add(r)
	}
	if orthancHook != nil {
		or, err := orthancHook(ctx, c)
		if err != nil {
			or = append(or, Result{Workload: "Orthanc DICOM ingest", Note: "failed: " + oneLine(err)})
		}
		for _, r := range or {
			add(r)
		}
	}

	// wrk, from a third process, as a cross-check of the Go load generator.
	add(wrkRow(ctx, s, floor[16]))

	// Audit verify over everything the run logged, with the server stopped.
	s.stop()
	add(auditRow(ctx, s, ref))
	return out, ctx.Err()
}

// note joins the non-empty parts of a table note.
func note(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

func clients(n int) string {
	if n == 1 {
		return "1 client"
	}
	return fmt.Sprintf("%d clients", n)
}

func compact(ids []string) []string {
	out := ids[:0]
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func oneLine(err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return regexp.MustCompile(`[\s|]+`).ReplaceAllString(s, " ")
}

func rehabRows(ctx context.Context, c config, s *server, a *api, g *gen, ids []string, ref *refs) []Result {
	const perBatch, perSession = 500, 10
	batches, d := 60, 20*time.Second
	if c.quick {
		batches, d = 12, 6*time.Second
	}
	bodies := make([]rehabBatch, batches)
	for b := range bodies {
		bodies[b] = g.rehabBatch(b, perBatch, perSession)
	}
	var mu sync.Mutex
	exercises := 0
	start := time.Now()
	r := load(ctx, 2, d, batches, func(cl *http.Client, b int) error {
		var res struct {
			Exercises struct{ Created int } `json:"exercises"`
		}
		if err := call(cl, "POST", s.url+"/api/v1/patients/"+ids[b%len(ids)]+"/rehab/ingest", a.bearer, bodies[b], 200, &res); err != nil {
			return err
		}
		mu.Lock()
		exercises += res.Exercises.Created
		mu.Unlock()
		return nil
	})
	perSec := float64(exercises) / time.Since(start).Seconds()
	return []Result{{Workload: "rehab ingest, batches of 500 exercises (API token), 2 clients",
		Ours:      fmt.Sprintf("%.0f exercises/s (batch p50 %s, p99 %s)", perSec, round(r.p50), round(r.p99)),
		Reference: fmt.Sprintf("%.0f rows/s plain SQLite batched", ref.sqliteInsertPerSec), Ratio: ratio(perSec, ref.sqliteInsertPerSec),
		Note: note(fmt.Sprintf("%d batches, plus %d session rows", r.requests, exercises/perSession), errNote(r))}}
}

// uploadRows uploads one binary STL of about size bytes in 8 MiB chunks,
// completes it (the server parses it) and reads it back through view.
func uploadRows(ctx context.Context, s *server, a *api, caseID string, size int64, ref *refs) ([]Result, error) {
	cl := &http.Client{Timeout: 5 * time.Minute}
	tris := (size - 84) / 50
	size = 84 + tris*50
	// The mesh is a run of triangles that repeats every pattern period, so
	// the client builds it once and then only slices it: making the bytes
	// costs neither the client (on the server's cores) nor the reference.
	const chunk = 8 << 20
	m := newSTLPattern(chunk)
	// Reference, taken just before the upload: the same bytes in the same
	// 8 MiB pieces written to a plain file on the same disk and fsynced once
	// at the end, as the upload is made durable once, at complete. (The
	// run's first plain copy is of another size, at another moment, and
	// the kernel copies it without user-space writes.)
	refStart := time.Now()
	if err := plainSTLFile(filepath.Join(filepath.Dir(s.dir), "upload-reference.stl"), m, size, chunk); err != nil {
		return nil, err
	}
	refMBps := float64(size) / time.Since(refStart).Seconds() / 1e6
	var u struct{ ID string }
	start := time.Now()
	if err := call(cl, "POST", s.url+"/api/v1/uploads", a.cookie, map[string]any{"case_id": caseID, "size": size, "slot": "mesh"}, http.StatusCreated, &u); err != nil {
		return nil, err
	}
	for off := int64(0); off < size; off += chunk {
		end := min(size, off+chunk)
		req, _ := http.NewRequestWithContext(ctx, "PUT", s.url+"/api/v1/uploads/"+u.ID, bytes.NewReader(m.piece(off, end, tris)))
		for k, v := range a.cookie {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, end-1, size))
		res, err := cl.Do(req)
		if err != nil {
			return nil, err
		}
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		res.Body.Close()
		if res.StatusCode != 200 {
			return nil, fmt.Errorf("PUT chunk at %d: %s: %s", off, res.Status, msg)
		}
	}
	putDone := time.Now()
	var f struct{ ID string }
	if err := call(cl, "POST", s.url+"/api/v1/uploads/"+u.ID+"/complete", a.cookie, nil, http.StatusCreated, &f); err != nil {
		return nil, err
	}
	took := time.Since(start)
	complete := time.Since(putDone)
	upMBps := float64(size) / took.Seconds() / 1e6
	rows := []Result{{Workload: fmt.Sprintf("upload %.0f MiB mesh (8 MiB chunked PUTs + complete)", float64(size)/(1<<20)),
		Ours:      fmt.Sprintf("%.0f MB/s (%s, of which complete %s)", upMBps, took.Round(time.Millisecond), complete.Round(time.Millisecond)),
		Reference: fmt.Sprintf("%.0f MB/s plain copy of the same bytes", refMBps), Ratio: ratio(upMBps, refMBps),
		Note: fmt.Sprintf("target ≥ 0.7; built once and sliced, streamed over loopback; complete parses and validates the mesh; both fsync once at the end; ratio %s against the run's median plain copy", ratio(upMBps, ref.copyMBps))}}

	start = time.Now()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/v1/files/"+f.ID+"/view", nil)
	for k, v := range a.cookie {
		req.Header[k] = v
	}
	res, err := cl.Do(req)
	if err != nil {
		return rows, err
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || n != size {
		return rows, fmt.Errorf("view: %s, %d of %d bytes, %v", res.Status, n, size, err)
	}
	viewMBps := float64(n) / time.Since(start).Seconds() / 1e6
	rows = append(rows, Result{Workload: fmt.Sprintf("view %.0f MiB mesh (GET .../view, decrypting)", float64(size)/(1<<20)),
		Ours: fmt.Sprintf("%.0f MB/s", viewMBps), Reference: fmt.Sprintf("%.0f MB/s plain copy of the same bytes", refMBps),
		Ratio: ratio(viewMBps, refMBps), Note: "target ≥ 0.7; the copy reference includes fsync; a read does not"})
	return rows, nil
}

// dicomRows uploads a synthetic study of n instances (256×256, 16-bit), one
// request (POST /api/v1/cases/{id}/files) per instance, from 4 clients with
// the API token.
func dicomRows(ctx context.Context, s *server, a *api, g *gen, caseID string, p fakePatient, n int) ([]Result, error) {
	study, series := g.studyUIDs()
	files := make([][]byte, n)
	total := 0
	for i := range files {
		files[i] = g.dicomInstance(study, series, i, 256, 256, p.FamilyName+"^"+p.GivenName)
		total += len(files[i])
	}
	var firstErr error
	var once sync.Once
	start := time.Now()
	r := load(ctx, 4, 3*time.Minute, n, func(cl *http.Client, i int) error {
		err := uploadWhole(cl, s.url, a.bearer, caseID, "dicom", files[i])
		if err != nil {
			once.Do(func() { firstErr = err })
		}
		return err
	})
	took := time.Since(start)
	if r.requests == 0 && firstErr != nil {
		return nil, firstErr
	}
	msg := note(fmt.Sprintf("%d instances of %d KiB, one request each", r.requests, total/n>>10), errNote(r))
	if firstErr != nil {
		msg += " (first: " + oneLine(firstErr) + ")"
	}
	return []Result{{Workload: "DICOM study ingest (one-request file API, API token), 4 clients",
		Ours:      fmt.Sprintf("%.1f instances/s (p50 %s, p99 %s)", float64(r.requests)/took.Seconds(), round(r.p50), round(r.p99)),
		Reference: "Orthanc: see its row", Note: msg}}, nil
}

// uploadWhole sends a small file in one request.
func uploadWhole(cl *http.Client, base string, hdr http.Header, caseID, slot string, data []byte) error {
	req, _ := http.NewRequest("POST", base+"/api/v1/cases/"+caseID+"/files?slot="+slot, bytes.NewReader(data))
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := cl.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST files: %s: %s", res.Status, msg)
	}
	return nil
}

// wrkRow runs wrk (if installed) against GET /healthz for a few seconds.
func wrkRow(ctx context.Context, s *server, floor16 loadResult) Result {
	row := Result{Workload: "wrk cross-check: GET /healthz, 16 connections"}
	path, err := exec.LookPath("wrk")
	if err != nil {
		row.Note = "skipped: wrk is not installed (apt-get install wrk)"
		return row
	}
	out, err := exec.CommandContext(ctx, path, "-t2", "-c16", "-d3s", "--latency", s.url+"/healthz").CombinedOutput()
	if err != nil {
		row.Note = "wrk failed: " + oneLine(err)
		return row
	}
	m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindSubmatch(out)
	p50 := regexp.MustCompile(`50%\s+(\S+)`).FindSubmatch(out)
	p99 := regexp.MustCompile(`99%\s+(\S+)`).FindSubmatch(out)
	if m == nil || p50 == nil || p99 == nil {
		row.Note = "could not read wrk's output"
		return row
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	row.Ours = fmt.Sprintf("%.0f req/s, p50 %s, p99 %s", rps, p50[1], p99[1])
	row.Reference = fmt.Sprintf("%.0f req/s Go load generator", floor16.perSec)
	row.Ratio = ratio(rps, floor16.perSec)
	row.Note = "wrk (C, a third process) vs this harness's generator, same server"
	return row
}

// auditRow runs `custodia audit verify` over the stopped server's data
// directory three times, each as its own process, and compares the median
// rate with raw SHA-256 over entry-sized inputs. The first run follows the
// server's exit and the writeback of what it wrote, which one run alone
// would report.
func auditRow(ctx context.Context, s *server, ref *refs) Result {
	row := Result{Workload: "audit verify (whole log after the run)"}
	re := regexp.MustCompile(`checked (\d+) entries in (\S+) \(([\d.]+) entries/s\)`)
	type run struct {
		rate          float64
		entries, took string
	}
	var runs []run
	for range 3 {
		out, err := exec.CommandContext(ctx, s.bin, "audit", "verify", "-data-dir", s.dir).CombinedOutput()
		if err != nil {
			row.Note = "failed: " + oneLine(fmt.Errorf("%w: %s", err, out))
			return row
		}
		m := re.FindSubmatch(out)
		if m == nil {
			row.Note = "could not read its output: " + oneLine(errors.New(string(out)))
			return row
		}
		rate, _ := strconv.ParseFloat(string(m[3]), 64)
		runs = append(runs, run{rate, string(m[1]), string(m[2])})
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].rate < runs[j].rate })
	mid := runs[len(runs)/2]
	row.Ours = fmt.Sprintf("%.0f entries/s (%s entries in %s)", mid.rate, mid.entries, mid.took)
	row.Reference = fmt.Sprintf("%.0f hashes/s raw SHA-256 of %d B", ref.shaEntryPerSec, shaEntryBytes)
	row.Ratio = ratio(mid.rate, ref.shaEntryPerSec)
	row.Note = fmt.Sprintf("median of 3 runs (lowest %.0f, highest %.0f entries/s), each its own process, server stopped; verify also reads SQLite and checks ed25519 checkpoints",
		runs[0].rate, runs[len(runs)-1].rate)
	return row
}

// stlPattern is a binary STL's triangles, repeating every period bytes:
// bytes holds three periods, so any piece of up to a period starts within
// the first.
type stlPattern struct {
	bytes  []byte
	period int64
}

func newSTLPattern(chunk int) *stlPattern {
	n := chunk / 50
	one := make([]byte, 0, 50*n)
	for i := 0; i < n; i++ {
		one = stlTriangle(one, i)
	}
	return &stlPattern{bytes: bytes.Repeat(one, 3), period: int64(len(one))}
}

// piece is bytes [off, end) of the STL of tris triangles (at most a period
// plus the header long).
func (m *stlPattern) piece(off, end, tris int64) []byte {
	if off == 0 {
		return append(stlHeader(uint32(tris)), m.bytes[:end-84]...)
	}
	o := (off - 84) % m.period
	return m.bytes[o : o+end-off]
}

// plainSTLFile writes the STL that uploadRows sends, in the same pieces, to
// a plain file, fsyncs it and removes it.
func plainSTLFile(path string, m *stlPattern, size, chunk int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	defer f.Close()
	tris := (size - 84) / 50
	for off := int64(0); off < size; off += chunk {
		if _, err := f.Write(m.piece(off, min(size, off+chunk), tris)); err != nil {
			return err
		}
	}
	return f.Sync()
}
