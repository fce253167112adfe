package main

// Orthanc side by side: the same generated DICOM instances stored by
// Orthanc (the Debian package, run as its own process on loopback) and by
// Custodia's media service (decide, audit, encrypt, validate, index,
// thumbnail, commit). Call orthancRows from run; it installs the Debian
// package if /usr/sbin/Orthanc is missing and returns a note instead of
// rows if that is not possible.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/media/mediatest"
	"github.com/custodia-health/custodia/internal/web"
)

const orthancBin = "/usr/sbin/Orthanc"

// orthancInstances generates n single-frame 256×256 16-bit instances with
// fresh SOP Instance UIDs (Orthanc keys instances by them). The generator's
// UID is replaced by one of the same length, so no lengths change.
func orthancInstances(n int) ([][]byte, error) {
	base := mediatest.DICOMGray16(256, 256, 1, 4000, 2000, 4000, "BENCH^Orthanc")
	const old = "1.2.826.0.1.3680043.10.9.1.1" // the generator's SOP Instance UID (28 bytes)
	if n > 89999 {
		return nil, errors.New("orthanc bench: at most 89999 instances")
	}
	out := make([][]byte, n)
	for i := range out {
		uid := fmt.Sprintf("1.2.826.0.1.3680043.10.%05d", 10000+i)
		if len(uid) != len(old) {
			return nil, errors.New("orthanc bench: UID length changed")
		}
		out[i] = bytes.ReplaceAll(base, []byte(old), []byte(uid))
	}
	return out, nil
}

// orthancRows stores the same instances in Orthanc and in Custodia with the
// same number of concurrent clients and reports instances per second. The
// stores run in alternating rounds (the order rotating each round), each
// round on fresh instances, so load from elsewhere on the machine falls on
// all of them alike; a row's rate is over all its rounds, and its note
// gives the ratio of each round.
func orthancRows(ctx context.Context, c config) ([]Result, error) {
	n, clients, rounds := 100, 4, 12
	if c.quick {
		rounds = 2
	}
	if _, err := os.Stat(orthancBin); err != nil {
		install := exec.CommandContext(ctx, "apt-get", "install", "-y", "orthanc")
		install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := install.CombinedOutput(); err != nil {
			return []Result{{Workload: "DICOM store vs Orthanc", Note: "Orthanc not installed: " + lastLine(out)}}, nil
		}
	}
	inst, err := orthancInstances(n * rounds)
	if err != nil {
		return nil, err
	}
	size := len(inst[0])

	orth, err := startOrthanc(c)
	if err != nil {
		return nil, fmt.Errorf("orthanc: %w", err)
	}
	defer orth.stop()
	ours, err := newCustodiaStore(ctx, c, clients, false)
	if err != nil {
		return nil, fmt.Errorf("custodia media store: %w", err)
	}
	defer ours.close()
	oursHTTP, err := newCustodiaStore(ctx, c, clients, true)
	if err != nil {
		return nil, fmt.Errorf("custodia media store over HTTP: %w", err)
	}
	defer oursHTTP.close()

	stores := []func([]byte) error{orth.post, ours.store, oursHTTP.store}
	took := make([]time.Duration, len(stores))
	per := make([][]float64, len(stores)) // instances/s per round
	for r := range rounds {
		batch := inst[r*n : (r+1)*n]
		for k := range stores {
			i := (r + k) % len(stores)
			d, err := storeAll(ctx, batch, clients, stores[i])
			if err != nil {
				return nil, fmt.Errorf("round %d, store %d: %w", r+1, i, err)
			}
			took[i] += d
			per[i] = append(per[i], float64(n)/d.Seconds())
		}
	}
	if err := orth.check(len(inst)); err != nil {
		return nil, err
	}
	rate := func(i int) float64 { return float64(n*rounds) / took[i].Seconds() }
	// The rounds' ratios: lowest, median, highest.
	rounds1 := func(i int) string {
		rs := make([]float64, len(per[i]))
		for r := range rs {
			rs[r] = per[i][r] / per[0][r]
		}
		slices.Sort(rs)
		return fmt.Sprintf("min %.2f, median %.2f, max %.2f", rs[0], rs[len(rs)/2], rs[len(rs)-1])
	}
	work := fmt.Sprintf("%d instances of %d KiB, %d clients, %d rounds", n*rounds, size>>10, clients, rounds)
	ref := fmt.Sprintf("%.0f instances/s Orthanc (HTTP POST /instances)", rate(0))
	return []Result{{
		Workload:  "DICOM store, " + work,
		Ours:      fmt.Sprintf("%.0f instances/s", rate(1)),
		Reference: ref,
		Ratio:     ratio(rate(1), rate(0)),
		Note:      "ours: media.Service.UploadSmall in process (decide, audit, encrypt, validate, index, commit; DICOM thumbnails on first view); Orthanc over loopback HTTP; ratio per round " + rounds1(1),
	}, {
		Workload:  "DICOM store over HTTP, " + work,
		Ours:      fmt.Sprintf("%.0f instances/s", rate(2)),
		Reference: ref,
		Ratio:     ratio(rate(2), rate(0)),
		Note:      "ours: POST /api/v1/cases/{id}/files over loopback HTTP to an in-process server (principal injected: no sign-in or token check); ratio per round " + rounds1(2),
	}}, nil
}

func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return string(lines[len(lines)-1])
}

// orthanc is an Orthanc process with a throwaway configuration and
// storage, listening on loopback.
type orthanc struct {
	base   string
	client *http.Client
	cmd    *exec.Cmd
	logf   *os.File
}

// startOrthanc starts Orthanc and waits until it answers.
func startOrthanc(c config) (*orthanc, error) {
	dir := filepath.Join(c.work, "orthanc")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := map[string]any{
		"Name": "custodia-bench", "StorageDirectory": filepath.Join(dir, "storage"), "IndexDirectory": filepath.Join(dir, "index"),
		"HttpPort": port, "HttpBindAddress": "127.0.0.1", "DicomServerEnabled": false, "RemoteAccessAllowed": false,
		"AuthenticationEnabled": false, "Plugins": []string{}, "StorageCompression": false, "HttpDescribeErrors": true,
	}
	js, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(cfgPath, js, 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "orthanc.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(orthancBin, cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	o := &orthanc{base: fmt.Sprintf("http://127.0.0.1:%d", port), client: &http.Client{Timeout: 30 * time.Second}, cmd: cmd, logf: logf}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if res, err := http.Get(o.base + "/system"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return o, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	o.stop()
	return nil, errors.New("the Orthanc process did not answer in 30 s; see orthanc.log in the work directory (-keep)")
}

// stop ends the Orthanc process by its id.
func (o *orthanc) stop() {
	_ = syscall.Kill(o.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { o.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(o.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	o.logf.Close()
}

// post stores one instance.
func (o *orthanc) post(b []byte) error {
	once := func() error {
		res, err := o.client.Post(o.base+"/instances", "application/dicom", bytes.NewReader(b))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("POST /instances: %d %s", res.StatusCode, body)
		}
		return nil
	}
	// Orthanc 1.10 now and then loses a race creating a storage
	// subdirectory when concurrent first writes land in the same one
	// ("Unable to create a subdirectory or a file"); one retry of that
	// instance is what a real client would do.
	if err := once(); err != nil {
		return once()
	}
	return nil
}

// check makes sure Orthanc holds want instances: a UID clash would make
// Orthanc skip the work and flatter it.
func (o *orthanc) check(want int) error {
	res, err := o.client.Get(o.base + "/statistics")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var st struct{ CountInstances int }
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return fmt.Errorf("read Orthanc statistics: %w", err)
	}
	if st.CountInstances != want {
		return fmt.Errorf("the Orthanc store holds %d instances, want %d", st.CountInstances, want)
	}
	return nil
}

// custodiaStore stores instances through media.Service on a fresh SQLite
// database, key ring, audit log and blob directory: one case on which the
// bench clinician is on the care team; over loopback HTTP if overHTTP.
type custodiaStore struct {
	store   func([]byte) error
	closers []func()
}

func (c *custodiaStore) close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
}

func newCustodiaStore(ctx context.Context, c config, clients int, overHTTP bool) (_ *custodiaStore, err error) {
	cs := &custodiaStore{}
	defer func() {
		if err != nil {
			cs.close()
		}
	}()
	dir := filepath.Join(c.work, "custodia-media")
	if overHTTP {
		dir += "-http"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d, err := db.Open(ctx, "", dir)
	if err != nil {
		return nil, err
	}
	cs.closers = append(cs.closers, func() { d.Close() })
	ms, err := keys.GenerateMasterString()
	if err != nil {
		return nil, err
	}
	m, err := keys.ParseMaster(ms)
	if err != nil {
		return nil, err
	}
	bs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	lg, err := audit.Open(ctx, d, sk, audit.Options{})
	if err != nil {
		return nil, err
	}
	cs.closers = append(cs.closers, func() { lg.Close() })
	svc := &media.Service{
		Store: &media.Store{DB: d, Keys: keys.NewKeyring(d, m), Blobs: bs},
		Audit: web.AuditReceipts(lg),
		CaseFacts: func(context.Context, *access.Principal, string) (string, access.Resource, error) {
			return "bench-patient", access.Resource{WorkspaceID: "bench-ws", CareTeam: true}, nil
		},
	}
	p := &access.Principal{UserID: "bench-clinician", SessionID: "bench", WorkspaceID: "bench-ws", Role: access.RoleClinician, ClientAddr: "127.0.0.1"}
	if !overHTTP {
		cs.store = func(b []byte) error {
			_, _, err := svc.UploadSmall(ctx, p, "bench-case", media.SlotDICOM, bytes.NewReader(b), int64(len(b)))
			return err
		}
		return cs, nil
	}
	ws, err := web.New(web.Deps{DB: d, Log: slog.New(slog.DiscardHandler), Version: "bench", Media: svc})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
	})}
	go hs.Serve(ln)
	cs.closers = append(cs.closers, func() { hs.Close() })
	url := "http://" + ln.Addr().String() + "/api/v1/cases/bench-case/files?slot=dicom"
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	cs.store = func(b []byte) error {
		res, err := client.Post(url, "application/dicom", bytes.NewReader(b))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST files: %d %s", res.StatusCode, body)
		}
		return nil
	}
	return cs, nil
}

// storeAll hands the instances to clients workers and returns how long
// they took.
func storeAll(ctx context.Context, inst [][]byte, clients int, store func([]byte) error) (time.Duration, error) {
	next := make(chan []byte)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				if err := store(b); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, b := range inst {
		select {
		case next <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	if first != nil {
		return 0, first
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return took, nil
}
