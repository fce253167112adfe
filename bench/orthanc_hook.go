//go:build orthanc

package main

// Built with -tags orthanc, the harness compares DICOM ingest with Orthanc
// through orthancRows (bench/orthanc.go, written separately). The lead
// enables it after merging that file: drop this build tag, or build with
// `go run -tags orthanc ./bench`.
func init() { orthancHook = orthancRows }
