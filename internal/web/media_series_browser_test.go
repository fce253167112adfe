package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/media/sample"
)

// seriesCanary is the patient name written into the test series' DICOM
// headers: it must show nowhere in the pages.
const seriesCanary = "Qzxseriescanary"

// uploadAs stores files on the fixture's case as the named user.
func (f *caseMediaFixture) uploadAs(t *testing.T, name string, slot media.Slot, files ...[]byte) {
	t.Helper()
	for _, b := range files {
		if _, _, err := f.svc.UploadSmall(context.Background(), f.as[name], f.caseID, slot, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
}

// shot saves a PNG of the page into $CUSTODIA_SHOTS (when set) as name.
func shot(t *testing.T, b *browsertest.Browser, name string, full bool) {
	t.Helper()
	dir := os.Getenv("CUSTODIA_SHOTS")
	if dir == "" {
		return
	}
	var buf []byte
	act := chromedp.CaptureScreenshot(&buf)
	if full {
		act = chromedp.FullScreenshot(&buf, 100) // 100: PNG
	}
	b.Run(t, act)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// canvasHash sums a sample of the viewer canvas's pixels: it changes when
// the image shown changes.
const canvasHash = `(function(){var c=document.querySelector('.dv-viewport canvas');var k=document.createElement('canvas');k.width=c.width;k.height=c.height;var x=k.getContext('2d',{willReadFrequently:true});x.drawImage(c,0,0);var d=x.getImageData(0,0,c.width,c.height).data;var h=0;for(var i=0;i<d.length;i+=37){h=(h*31+d[i])>>>0;}return h;})()`

// waitShown waits until the viewer has drawn image n.
func waitShown(n int) chromedp.Action {
	return chromedp.WaitVisible(fmt.Sprintf(`.dicomviewer[data-shown="%d"]`, n))
}

// TestClinicianScrollsASeriesAndACineLoopInTheViewer: the case page lists
// a 60-slice CT series and a multi-frame cine loop by study and series; the
// clinician opens the CT and scrolls it with keys, the wheel and the
// slider (the counter and the image change), windows it with presets and a
// drag, zooms; opens the cine loop and scrolls its frames; opens the 3D
// model and the viewer follows the window's size. Opening a series is one
// audit entry however far it is scrolled, and no page or URL shows the
// patient's name from the DICOM headers.
func TestClinicianScrollsASeriesAndACineLoopInTheViewer(t *testing.T) {
	f := newCaseMediaFixture(t)
	f.uploadAs(t, "doc1", media.SlotDICOM, sample.CTSeries(60, 256, seriesCanary+"^Greta")...)
	f.uploadAs(t, "doc1", media.SlotDICOM, sample.CineLoop(24, 128, seriesCanary+"^Greta"))
	f.uploadAs(t, "doc1", media.SlotMesh, sample.SphereSTL(40, 16, 32))
	b := browsertest.New(t)
	casePage := f.ts.URL + "/cases/" + f.caseID

	var seriesText []string
	var thumbs, views, downloads int
	var page string
	b.Run(t,
		chromedp.Navigate(f.ts.URL+"/test/as/doc1"),
		chromedp.Navigate(casePage),
		chromedp.WaitVisible(`li.series`),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('li.series .file-meta')).map(function(e){return e.innerText;})`, &seriesText),
		chromedp.Poll(`Array.from(document.querySelectorAll('li.series img.series-thumb')).every(function(i){return i.complete&&i.naturalWidth>0;})`, nil),
		chromedp.Evaluate(`document.querySelectorAll('li.series img.series-thumb').length`, &thumbs),
		chromedp.Evaluate(`document.querySelectorAll('li.series a.file-view').length`, &views),
		chromedp.Evaluate(`document.querySelectorAll('li.series .file-downloads a.file-download').length`, &downloads),
		chromedp.Evaluate(`document.documentElement.outerHTML`, &page),
	)
	shot(t, b, "case-page.png", true)
	if len(seriesText) != 2 || !strings.Contains(seriesText[0], "Axial head 2.5 mm") || !strings.Contains(seriesText[0], "CT") ||
		!strings.Contains(seriesText[0], "60 images") || !strings.Contains(seriesText[0], "2026-02-10") ||
		!strings.Contains(seriesText[1], "XA") || !strings.Contains(seriesText[1], "1 file, 24 frames") {
		t.Fatalf("series rows: %q", seriesText)
	}
	if thumbs != 2 || views != 2 || downloads != 61 {
		t.Fatalf("series rows: %d thumbnails, %d view links, %d download links (want 2, 2, 61)", thumbs, views, downloads)
	}
	if strings.Contains(page, seriesCanary) || !strings.Contains(page, "Synthetic head phantom") {
		t.Fatal("the case page shows the DICOM patient name, or not the study description")
	}

	// The CT series: one stack of 60, opened at the first slice.
	before := len(f.env.Entries(t))
	var h0, h1, h2, h3, hBone, hDrag int64
	var counter, overlay, win0, winBone, winDrag, zoom0, zoom1, href string
	b.Run(t,
		chromedp.Click(`li.series a.file-view`),
		waitShown(0),
		chromedp.WaitVisible(`.dicomviewer[data-loaded="60"]`),
		chromedp.Location(&href),
		chromedp.Evaluate(canvasHash, &h0),
		chromedp.AttributeValue(`.dicomviewer`, "data-window", &win0, nil),
		chromedp.Focus(`.dv-viewport`),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.KeyEvent(kb.ArrowDown),
		waitShown(3),
		chromedp.Text(`.dv-counter`, &counter),
		chromedp.Evaluate(canvasHash, &h1),
		chromedp.Evaluate(`var v=document.querySelector('.dv-viewport');v.dispatchEvent(new WheelEvent('wheel',{deltaY:100,bubbles:true,cancelable:true}));v.dispatchEvent(new WheelEvent('wheel',{deltaY:100,bubbles:true,cancelable:true}));`, nil),
		waitShown(5),
		chromedp.Evaluate(canvasHash, &h2),
		chromedp.SetValue(`input[name=image]`, "29"),
		chromedp.Evaluate(`document.querySelector('input[name=image]').dispatchEvent(new Event('input'))`, nil),
		waitShown(29),
		chromedp.Evaluate(canvasHash, &h3),
		chromedp.Text(`.dv-bl`, &overlay),
	)
	if !strings.HasPrefix(href, f.ts.URL+"/files/") || strings.Contains(href, "?") {
		t.Fatalf("viewer URL %q", href)
	}
	if counter != "4 / 60" || !strings.Contains(overlay, "Image 30 of 60") || !strings.Contains(overlay, "Instance 30") {
		t.Fatalf("counter %q, overlay %q", counter, overlay)
	}
	if h0 == h1 || h1 == h2 || h2 == h3 {
		t.Fatalf("the image did not change while scrolling: %d %d %d %d", h0, h1, h2, h3)
	}
	// Window presets and drag-to-window change the image; zoom too.
	b.Run(t,
		chromedp.Click(`//div[contains(@class,"dv-presets")]/button[text()="Bone"]`),
		chromedp.WaitVisible(`.dicomviewer[data-window="400/1800"]`),
		chromedp.AttributeValue(`.dicomviewer`, "data-window", &winBone, nil),
		chromedp.Evaluate(canvasHash, &hBone),
		chromedp.Click(`//div[contains(@class,"dv-presets")]/button[text()="Brain"]`),
		chromedp.WaitVisible(`.dicomviewer[data-window="40/80"]`),
		chromedp.MouseEvent(input.MousePressed, 500, 450, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.MouseMoved, 560, 480, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.MouseMoved, 620, 500, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.MouseReleased, 620, 500, chromedp.ButtonLeft),
		chromedp.AttributeValue(`.dicomviewer`, "data-window", &winDrag, nil),
		chromedp.Evaluate(canvasHash, &hDrag),
		chromedp.AttributeValue(`.dicomviewer`, "data-zoom", &zoom0, nil),
		chromedp.Focus(`.dv-viewport`),
		chromedp.KeyEvent("+"),
		chromedp.AttributeValue(`.dicomviewer`, "data-zoom", &zoom1, nil),
		chromedp.KeyEvent("0"),
		chromedp.Click(`//div[contains(@class,"dv-presets")]/button[text()="Brain"]`),
	)
	if win0 != "40/80" || winBone != "400/1800" || hBone == h3 || winDrag == "40/80" || winDrag == "" || hDrag == hBone {
		t.Fatalf("windows: file %q, Bone %q, after a drag %q; hashes %d %d %d", win0, winBone, winDrag, h3, hBone, hDrag)
	}
	if zoom0 == "" || zoom0 == zoom1 {
		t.Fatalf("zoom %q → %q", zoom0, zoom1)
	}
	shot(t, b, "dicom-viewer-mid-series.png", false)
	var seriesEntries, other []string
	for _, e := range f.env.Entries(t)[before:] {
		if e.Action == "file.view_series" {
			seriesEntries = append(seriesEntries, e.Decision+" "+e.ResourceType)
		} else if e.Action != "file.view" { // the viewer page itself
			other = append(other, e.Action)
		}
	}
	if !slices.Equal(seriesEntries, []string{"allow series"}) || len(other) != 0 {
		t.Fatalf("opening and scrolling a 60-image series wrote series entries %v and others %v; want one", seriesEntries, other)
	}

	// The cine loop: one file, its frames scroll.
	var c0, c1 int64
	var frameText0, frameText1 string
	b.Run(t,
		chromedp.Navigate(casePage),
		chromedp.WaitVisible(`li.series`),
		chromedp.Click(`(//li[contains(@class,"series")])[2]//a[contains(@class,"file-view")]`),
		waitShown(0),
		chromedp.Text(`.dv-bl`, &frameText0),
		chromedp.Evaluate(canvasHash, &c0),
		chromedp.Focus(`.dv-viewport`),
		chromedp.KeyEvent(kb.ArrowDown),
		waitShown(1),
		chromedp.Text(`.dv-bl`, &frameText1),
		chromedp.Evaluate(canvasHash, &c1),
	)
	shot(t, b, "dicom-viewer-cine.png", false)
	if !strings.Contains(frameText0, "Frame 1 of 24") || !strings.Contains(frameText1, "Frame 2 of 24") || c0 == c1 {
		t.Fatalf("cine frames: %q → %q, hashes %d %d", frameText0, frameText1, c0, c1)
	}
	// Play loops through the frames; Pause stops.
	var label, paused string
	b.Run(t,
		chromedp.Text(`.dv-stack label`, &label),
		chromedp.Click(`//button[text()="Play"]`),
		chromedp.WaitVisible(`.dicomviewer[data-shown="5"]`),
		chromedp.Click(`//button[text()="Pause"]`),
		chromedp.AttributeValue(`//button[text()="Play"]`, "aria-pressed", &paused, nil),
	)
	if label != "Frame" || paused != "false" {
		t.Fatalf("cine: slider label %q, Play pressed after Pause %q", label, paused)
	}
	var overlayAll string
	b.Run(t, chromedp.Evaluate(`document.querySelector('.dv-viewport').innerText+document.location.href`, &overlayAll))
	if strings.Contains(overlayAll, seriesCanary) {
		t.Fatal("the viewer shows the DICOM patient name")
	}

	// The 3D viewer: buttons above the stage, the canvas follows its size.
	var size0, size1 string
	var barAbove bool
	b.Run(t,
		chromedp.Navigate(casePage),
		chromedp.WaitVisible(`li[data-kind="stl"] a.file-view`),
		chromedp.Click(`li[data-kind="stl"] a.file-view`),
		chromedp.WaitVisible(`canvas[data-loaded="true"]`),
		chromedp.AttributeValue(`canvas`, "data-size", &size0, nil),
		chromedp.Evaluate(`(function(){var b=document.querySelector('.viewer-controls').getBoundingClientRect(),c=document.querySelector('.v3d-stage').getBoundingClientRect();return b.bottom<=c.top&&b.width>0&&c.bottom<=window.innerHeight;})()`, &barAbove),
	)
	shot(t, b, "viewer-3d.png", false)
	b.Run(t,
		chromedp.EmulateViewport(900, 700),
		chromedp.Poll(`document.querySelector('canvas').dataset.size!==`+fmt.Sprintf("%q", size0), nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.AttributeValue(`canvas`, "data-size", &size1, nil),
		chromedp.EmulateViewport(1280, 900),
	)
	if !barAbove || size0 == size1 {
		t.Fatalf("3D viewer: controls above the stage and on screen %v; canvas %s → %s after resizing the window", barAbove, size0, size1)
	}
	if p := problems(b); len(p) > 0 {
		t.Fatalf("browser problems: %v", p)
	}
}

// TestScrollingA200SliceSeriesIsTimed opens a 200-slice 256×256 CT series
// and steps through it with the keyboard, timing each step from the key
// event to the new image drawn on the canvas, and to the next animation
// frame. It logs the figures (go test ./internal/web/ -run
// TestScrollingA200SliceSeriesIsTimed -v) and asserts only that every step
// showed the next image.
func TestScrollingA200SliceSeriesIsTimed(t *testing.T) {
	f := newCaseMediaFixture(t)
	f.uploadAs(t, "doc1", media.SlotDICOM, sample.CTSeries(200, 256, seriesCanary+"^Greta")...)
	b := browsertest.New(t)
	var first string
	if err := chromedp.Run(b.Ctx, chromedp.Navigate(f.ts.URL+"/test/as/doc1"), chromedp.Navigate(f.ts.URL+"/cases/"+f.caseID),
		chromedp.WaitVisible(`li.series a.file-view`), chromedp.AttributeValue(`li.series`, "data-file", &first, nil)); err != nil {
		t.Fatal(err)
	}
	const steps = `(async function(n){
		var root=document.querySelector('.dicomviewer'), vp=root.querySelector('.dv-viewport'), drawn=[], frame=[];
		for (var i=0;i<n;i++) {
			var want=String(+root.dataset.shown+1), t0=performance.now();
			vp.dispatchEvent(new KeyboardEvent('keydown',{key:'ArrowDown',bubbles:true,cancelable:true}));
			if (root.dataset.shown!==want) {
				await new Promise(function(res){var mo=new MutationObserver(function(){if(root.dataset.shown===want){mo.disconnect();res();}});mo.observe(root,{attributes:true,attributeFilter:['data-shown']});});
			}
			drawn.push(performance.now()-t0);
			await new Promise(function(r){requestAnimationFrame(function(){r();});});
			frame.push(performance.now()-t0);
		}
		return {drawn:drawn, frame:frame, shown:+root.dataset.shown};
	})`
	type timing struct {
		Drawn []float64 `json:"drawn"`
		Frame []float64 `json:"frame"`
		Shown int       `json:"shown"`
	}
	await := func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }
	var cold, warm timing
	start := time.Now()
	var loadedAll time.Duration
	b.Run(t,
		chromedp.Navigate(f.ts.URL+"/files/"+first+"/view"),
		waitShown(0),
		// Straight after opening: the images are still arriving.
		chromedp.Evaluate(steps+`(20)`, &cold, await),
		chromedp.WaitVisible(`.dicomviewer[data-loaded="200"]`),
		chromedp.ActionFunc(func(context.Context) error { loadedAll = time.Since(start); return nil }),
		chromedp.Evaluate(steps+`(179)`, &warm, await),
	)
	if cold.Shown != 20 || warm.Shown != 199 || len(warm.Drawn) != 179 {
		t.Fatalf("the steps did not each show the next image: cold ended at %d, warm at %d", cold.Shown, warm.Shown)
	}
	stat := func(v []float64) string {
		s := slices.Clone(v)
		slices.Sort(s)
		return fmt.Sprintf("median %.2f ms, p95 %.2f ms, max %.2f ms", s[len(s)/2], s[len(s)*95/100], s[len(s)-1])
	}
	t.Logf("200-slice 256x256 CT, loopback: all images received %.0f ms after opening the page", float64(loadedAll.Microseconds())/1000)
	t.Logf("first 20 steps while loading: to drawn %s; to next frame %s", stat(cold.Drawn), stat(cold.Frame))
	t.Logf("179 steps once loaded: to drawn %s; to next frame %s", stat(warm.Drawn), stat(warm.Frame))
	if p := problems(b); len(p) > 0 {
		t.Fatalf("browser problems: %v", p)
	}
}

// TestSeriesImagesNeedTheirOwnLiveGrant: a series' images are served only
// under the grant its opening returned, to the sign-in it was issued to
// and until it expires; then the answer says to open the series again,
// and opening it again (a new audited access) gives a grant that works.
func TestSeriesImagesNeedTheirOwnLiveGrant(t *testing.T) {
	f := newCaseMediaFixture(t)
	var offset atomic.Int64
	f.svc.Store.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	f.uploadAs(t, "doc1", media.SlotDICOM, sample.CTSeries(3, 32, seriesCanary+"^Greta")...)
	fs, err := f.svc.CaseFiles(context.Background(), f.as["doc1"], f.caseID)
	if err != nil || len(fs) != 3 {
		t.Fatalf("files %d %v", len(fs), err)
	}
	open := func(who string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/files/"+fs[0].ID+"/series", nil)
		req.AddCookie(&http.Cookie{Name: "test-as", Value: who})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			Images string `json:"images"`
			Stack  []any  `json:"stack"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 || len(body.Stack) != 3 {
			t.Fatalf("open the series as %s: %d %v %+v", who, res.StatusCode, err, body)
		}
		if strings.Contains(body.Images, seriesCanary) || !strings.Contains(body.Images, "{n}") {
			t.Fatalf("images URL %q", body.Images)
		}
		return strings.TrimPrefix(body.Images, f.ts.URL)
	}
	images := open("doc1")
	img := func(n int) string { return strings.Replace(images, "{n}", strconv.Itoa(n), 1) }
	if code := f.getAs(t, "doc1", img(2)); code != http.StatusOK {
		t.Fatalf("image 2: %d", code)
	}
	if code := f.getAs(t, "doc2", img(2)); code != http.StatusNotFound {
		t.Fatalf("a collaborator used the clinician's grant: %d", code)
	}
	if code := f.getAs(t, "doc1", img(3)); code != http.StatusUnprocessableEntity {
		t.Fatalf("image 3 of 3: %d", code)
	}
	offset.Store(int64(media.SeriesGrantTTL + time.Minute))
	if code := f.getAs(t, "doc1", img(0)); code != http.StatusNotFound {
		t.Fatalf("image under an expired grant: %d", code)
	}
	images = open("doc1")
	if code := f.getAs(t, "doc1", img(0)); code != http.StatusOK {
		t.Fatalf("image under the new grant: %d", code)
	}
}
