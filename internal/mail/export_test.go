package mail

import "net"

// ActAsRemoteRelay makes s treat its (loopback) test relay as a relay on
// another machine, so the STARTTLS requirement can be shown end to end.
func ActAsRemoteRelay(s *SMTP) { s.loopback = func(net.Addr) bool { return false } }
