// Package loadgen is a lean HTTP/1.1 load generator for loopback benchmarks on Linux: one
// OS thread, non-blocking sockets and epoll, prepared request bytes, and just enough
// parsing of each answer (status line, headers, Content-Length or chunked body) to know
// it is complete — so one core drives far more requests than the server under test can
// answer, and the generator's own scheduling stays out of the measured latencies.
//
// Two modes:
//   - constant rate (open loop): requests fall due at fixed intervals whether or not earlier
//     ones were answered; a due request goes out on the first idle connection, and its
//     latency runs from the moment it was due, so a stalled server shows up in the
//     percentiles instead of silently slowing the generator down (no coordinated omission).
//     This is what wrk2 does; Debian does not package wrk2. Waits use epoll_pwait2's
//     nanosecond timeout, since Go's own timers round sub-millisecond sleeps up to a
//     millisecond when the process is idle.
//   - closed loop: every connection sends its next request as soon as the previous answer
//     arrived (what wrk does; used when wrk is not installed).
package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// Config configures a run.
type Config struct {
	// Addr is the server's IPv4 host:port.
	Addr string
	// Path is the request path, e.g. /verify.
	Path string
	// Headers are sent with every request, in order.
	Headers [][2]string
	// Tokens, when set, are sent as "Authorization: Bearer <token>", one per request in
	// order; the run stops early (Exhausted) when they run out.
	Tokens []string
	// Conns is the number of keep-alive connections.
	Conns int
	// Rate is requests per second for a constant-rate run; 0 means closed loop.
	Rate float64
	// Duration bounds the run.
	Duration time.Duration
	// OK says which status codes count as success (default: 2xx).
	OK func(code int) bool
}

// Result is what a run measured.
type Result struct {
	Requests  int64         `json:"requests"`
	Errors    int64         `json:"errors"`
	BadStatus int64         `json:"badStatus"`
	Duration  time.Duration `json:"duration"`
	RPS       float64       `json:"rps"`
	// TargetRate is the configured rate of a constant-rate run.
	TargetRate float64       `json:"targetRate,omitempty"`
	P50        time.Duration `json:"p50"`
	P90        time.Duration `json:"p90"`
	P99        time.Duration `json:"p99"`
	P999       time.Duration `json:"p999"`
	Max        time.Duration `json:"max"`
	// Exhausted is set when the token list ran out before the duration ended.
	Exhausted bool `json:"exhausted,omitempty"`
	// LagP50 and LagP99 are, for a constant-rate run, how late requests were sent after
	// they fell due: the generator's own delay (waking up, waiting for an idle
	// connection), part of every latency above.
	LagP50 time.Duration `json:"lagP50,omitempty"`
	LagP99 time.Duration `json:"lagP99,omitempty"`
	// Unsent counts requests of a constant-rate run that were still waiting for an idle
	// connection when the run ended (not in the percentiles; non-zero means the server
	// could not keep up).
	Unsent int64 `json:"unsent,omitempty"`
}

type conn struct {
	fd   int
	busy bool
	due  int64  // when the request in flight was due (ns since start)
	in   []byte // answer bytes received so far
	out  []byte // request bytes not yet written
}

type loop struct {
	cfg    Config
	sa     syscall.Sockaddr
	epfd   int
	start  time.Time
	conns  []*conn
	byFD   map[int]*conn
	static []byte
	reqBuf []byte
	next   int // next token
	lats   []int64
	lags   []int64
	res    Result
}

// sysEpollPwait2 is epoll_pwait2(2) (Linux 5.11+; the same number on every architecture).
const sysEpollPwait2 = 441

// Run runs the load described by cfg. It occupies one OS thread for the whole run.
func Run(cfg Config) (Result, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cfg.Conns <= 0 {
		cfg.Conns = 1
	}
	if cfg.OK == nil {
		cfg.OK = func(c int) bool { return c >= 200 && c < 300 }
	}
	ap, err := netip.ParseAddrPort(cfg.Addr)
	if err != nil || !ap.Addr().Is4() {
		return Result{}, fmt.Errorf("address %q: want an IPv4 host:port", cfg.Addr)
	}
	l := &loop{cfg: cfg, sa: &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, byFD: map[int]*conn{},
		lats: make([]int64, 0, 1<<18)}
	l.static = buildRequest(nil, cfg, "")
	l.epfd, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = syscall.Close(l.epfd) }()
	for range cfg.Conns {
		c, err := l.dial()
		if err != nil {
			l.closeAll()
			return Result{}, err
		}
		l.conns = append(l.conns, c)
	}
	defer l.closeAll()
	l.res.TargetRate = cfg.Rate
	err = l.run()
	r := l.finish()
	if err == nil && r.Requests == 0 {
		err = errors.New("no request was answered")
	}
	return r, err
}

func (l *loop) dial() (*conn, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Connect(fd, l.sa); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("connect %s: %w", l.cfg.Addr, err)
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	c := &conn{fd: fd, in: make([]byte, 0, 4096)}
	l.byFD[fd] = c
	return c, nil
}

func (l *loop) closeConn(c *conn) {
	if c.fd >= 0 {
		_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
		_ = syscall.Close(c.fd)
		delete(l.byFD, c.fd)
		c.fd = -1
	}
}

func (l *loop) closeAll() {
	for _, c := range l.conns {
		l.closeConn(c)
	}
}

func (l *loop) now() int64 { return int64(time.Since(l.start)) }

// request returns the bytes of the next request, or false when the tokens ran out.
func (l *loop) request() ([]byte, bool) {
	if len(l.cfg.Tokens) == 0 {
		return l.static, true
	}
	if l.next >= len(l.cfg.Tokens) {
		l.res.Exhausted = true
		return nil, false
	}
	l.reqBuf = buildRequest(l.reqBuf[:0], l.cfg, l.cfg.Tokens[l.next])
	l.next++
	return l.reqBuf, true
}

// send writes a request on an idle connection.
func (l *loop) send(c *conn, due int64) bool {
	req, ok := l.request()
	if !ok {
		return false
	}
	if c.fd < 0 {
		nc, err := l.dial()
		if err != nil {
			l.res.Errors++
			return true
		}
		c.fd, c.in = nc.fd, nc.in
		l.byFD[c.fd] = c
	}
	c.busy, c.due, c.in = true, due, c.in[:0]
	if l.cfg.Rate > 0 {
		l.lags = append(l.lags, l.now()-due)
	}
	n, err := syscall.Write(c.fd, req)
	if err != nil && err != syscall.EAGAIN {
		l.fail(c)
		return true
	}
	if n < len(req) {
		// Rare for a request this small: keep the rest and wait until the socket drains.
		c.out = append(c.out[:0], req[max(n, 0):]...)
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(c.fd)}
		_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev)
	}
	return true
}

func (l *loop) fail(c *conn) {
	l.res.Errors++
	c.busy = false
	l.closeConn(c)
}

func (l *loop) run() error {
	var (
		events  [256]syscall.EpollEvent
		scratch = make([]byte, 64<<10)
		idle    = make([]*conn, 0, len(l.conns))
		queue   []int64 // due times of requests waiting for an idle connection
		i       int64   // index of the next request to fall due
		stopped bool    // no new requests (duration over or tokens exhausted)
	)
	openLoop := l.cfg.Rate > 0
	interval := 0.0
	if openLoop {
		interval = float64(time.Second) / l.cfg.Rate
	}
	end := int64(l.cfg.Duration)
	dueAt := func(k int64) int64 { return int64(float64(k) * interval) }
	idle = append(idle, l.conns...)
	l.start = time.Now()
	for {
		now := l.now()
		if now >= end {
			stopped = true
		}
		if openLoop && !stopped {
			for dueAt(i) <= now && dueAt(i) < end {
				queue = append(queue, dueAt(i))
				i++
			}
		}
		// Hand out work to idle connections.
		for len(idle) > 0 && !stopped {
			var due int64
			if openLoop {
				if len(queue) == 0 {
					break
				}
				due = queue[0]
			} else {
				due = now
			}
			c := idle[len(idle)-1]
			if !l.send(c, due) {
				stopped = true
				break
			}
			idle = idle[:len(idle)-1]
			if openLoop {
				queue = queue[1:]
			}
			if !c.busy { // failed at once
				idle = append(idle, c)
			}
		}
		busy := len(l.conns) - len(idle)
		if stopped && busy == 0 {
			l.res.Unsent = int64(len(queue))
			return nil
		}
		// Wait for answers, or until the next request falls due.
		timeout := int64(-1)
		switch {
		case openLoop && !stopped && len(queue) == 0:
			timeout = max(0, min(dueAt(i), end)-now)
		case !stopped:
			timeout = max(0, end-now)
		}
		if stopped {
			// Let the last answers arrive, but not forever.
			timeout = int64(10 * time.Second)
		}
		n, err := epollWait(l.epfd, events[:], timeout)
		if err != nil {
			return err
		}
		if n == 0 && stopped {
			// Answers that never came count as errors.
			for _, c := range l.conns {
				if c.busy {
					l.fail(c)
				}
			}
			l.res.Unsent = int64(len(queue))
			return nil
		}
		for _, ev := range events[:n] {
			c := l.byFD[int(ev.Fd)]
			if c == nil {
				continue
			}
			if ev.Events&syscall.EPOLLOUT != 0 && len(c.out) > 0 {
				w, err := syscall.Write(c.fd, c.out)
				if err != nil && err != syscall.EAGAIN {
					l.fail(c)
					idle = append(idle, c)
					continue
				}
				c.out = c.out[max(w, 0):]
				if len(c.out) == 0 {
					ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c.fd)}
					_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev)
				}
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
				continue
			}
			rn, err := syscall.Read(c.fd, scratch)
			if err == syscall.EAGAIN {
				continue
			}
			if err != nil || rn == 0 {
				if c.busy {
					l.fail(c)
					idle = append(idle, c)
				} else {
					l.closeConn(c)
				}
				continue
			}
			if !c.busy {
				continue // unsolicited bytes: ignore
			}
			c.in = append(c.in, scratch[:rn]...)
			used, code, keep, err := parseResponse(c.in)
			if err != nil {
				l.fail(c)
				idle = append(idle, c)
				continue
			}
			if used == 0 {
				continue // incomplete
			}
			l.lats = append(l.lats, l.now()-c.due)
			if !l.cfg.OK(code) {
				l.res.BadStatus++
			}
			c.busy = false
			c.in = c.in[:0]
			if !keep {
				l.closeConn(c)
			}
			idle = append(idle, c)
		}
	}
}

// epollWait waits up to timeout nanoseconds (negative: forever) with epoll_pwait2, or
// with epoll_wait and a millisecond timeout on kernels without it.
func epollWait(epfd int, events []syscall.EpollEvent, timeout int64) (int, error) {
	for {
		var tsp uintptr
		var ts syscall.Timespec
		if timeout >= 0 {
			ts = syscall.NsecToTimespec(timeout)
			tsp = uintptr(unsafe.Pointer(&ts))
		}
		n, _, errno := syscall.Syscall6(sysEpollPwait2, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), tsp, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		case syscall.ENOSYS:
			ms := -1
			if timeout >= 0 {
				ms = int((timeout + int64(time.Millisecond) - 1) / int64(time.Millisecond))
			}
			n, err := syscall.EpollWait(epfd, events, ms)
			if err == syscall.EINTR {
				continue
			}
			return n, err
		default:
			return 0, errno
		}
	}
}

func (l *loop) finish() Result {
	r := l.res
	elapsed := time.Since(l.start)
	r.Duration = elapsed
	if l.cfg.Rate > 0 {
		// A constant-rate run lasts its configured duration; the last answers may arrive a
		// little later and are counted in the latencies, not in the time.
		r.Duration = min(elapsed, l.cfg.Duration)
	}
	r.Requests = int64(len(l.lats))
	if r.Duration > 0 {
		r.RPS = float64(r.Requests) / r.Duration.Seconds()
	}
	if len(l.lats) > 0 {
		slices.Sort(l.lats)
		r.P50, r.P90, r.P99, r.P999 = percentile(l.lats, 50), percentile(l.lats, 90), percentile(l.lats, 99), percentile(l.lats, 99.9)
		r.Max = time.Duration(l.lats[len(l.lats)-1])
	}
	if len(l.lags) > 0 {
		slices.Sort(l.lags)
		r.LagP50, r.LagP99 = percentile(l.lags, 50), percentile(l.lags, 99)
	}
	return r
}

// percentile returns the nearest-rank percentile q of sorted samples.
func percentile(sorted []int64, q float64) time.Duration {
	rank := int(q/100*float64(len(sorted))+0.5) - 1
	return time.Duration(sorted[min(max(rank, 0), len(sorted)-1)])
}

func buildRequest(buf []byte, cfg Config, token string) []byte {
	buf = append(buf, "GET "...)
	buf = append(buf, cfg.Path...)
	buf = append(buf, " HTTP/1.1\r\nHost: "...)
	buf = append(buf, cfg.Addr...)
	buf = append(buf, "\r\n"...)
	for _, h := range cfg.Headers {
		buf = append(buf, h[0]...)
		buf = append(buf, ": "...)
		buf = append(buf, h[1]...)
		buf = append(buf, "\r\n"...)
	}
	if token != "" {
		buf = append(buf, "Authorization: Bearer "...)
		buf = append(buf, token...)
		buf = append(buf, "\r\n"...)
	}
	return append(buf, "\r\n"...)
}

var errBadResponse = errors.New("malformed HTTP response")

// parseResponse looks for one complete HTTP/1.1 answer at the start of b. It returns the
// bytes it spans (0 when incomplete), the status code and whether the connection stays
// open.
func parseResponse(b []byte) (used, code int, keepAlive bool, err error) {
	hdrEnd := bytes.Index(b, []byte("\r\n\r\n"))
	if hdrEnd < 0 {
		if len(b) > 64<<10 {
			return 0, 0, false, errBadResponse
		}
		return 0, 0, false, nil
	}
	head := b[:hdrEnd]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, 0, false, errBadResponse
	}
	code, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, false, errBadResponse
	}
	keepAlive = line[7] == '1'
	length, chunked := -1, false
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, val, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, 0, false, errBadResponse
		}
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, err = strconv.Atoi(string(val))
			if err != nil || length < 0 {
				return 0, 0, false, errBadResponse
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(val, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(val, []byte("close")) {
				keepAlive = false
			}
		}
	}
	body := hdrEnd + 4
	switch {
	case chunked:
		n, err := chunkedLen(b[body:])
		if err != nil || n == 0 {
			return 0, 0, false, err
		}
		return body + n, code, keepAlive, nil
	case length >= 0:
		if len(b) < body+length {
			return 0, 0, false, nil
		}
		return body + length, code, keepAlive, nil
	case code == 204 || code == 304:
		return body, code, keepAlive, nil
	}
	// A body that runs to the end of the connection is not used by the servers measured.
	return 0, 0, false, errBadResponse
}

// chunkedLen returns the length of a complete chunked body at the start of b, or 0.
func chunkedLen(b []byte) (int, error) {
	pos := 0
	for {
		i := bytes.Index(b[pos:], []byte("\r\n"))
		if i < 0 {
			return 0, nil
		}
		sizeField := b[pos : pos+i]
		if j := bytes.IndexByte(sizeField, ';'); j >= 0 {
			sizeField = sizeField[:j]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(sizeField)), 16, 64)
		if err != nil || size < 0 {
			return 0, errBadResponse
		}
		pos += i + 2
		if size == 0 {
			// Trailers, then an empty line.
			for {
				k := bytes.Index(b[pos:], []byte("\r\n"))
				if k < 0 {
					return 0, nil
				}
				pos += k + 2
				if k == 0 {
					return pos, nil
				}
			}
		}
		if len(b) < pos+int(size)+2 {
			return 0, nil
		}
		pos += int(size) + 2
	}
}

// String formats a result on one line.
func (r Result) String() string {
	return fmt.Sprintf("%d requests in %.1fs = %.0f req/s, p50 %s, p99 %s, errors %d, bad status %d",
		r.Requests, r.Duration.Seconds(), r.RPS, r.P50, r.P99, r.Errors, r.BadStatus)
}
