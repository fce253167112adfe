package web

// SniffForm exposes sniffForm to the external tests' fuzz target.
var SniffForm = sniffForm
