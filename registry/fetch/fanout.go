package fetch

import "io"

// chanReader is one consumer of a fan-out: an io.Reader over chunks sent on
// a buffered channel, so consumers (tar check, signature check) run in
// parallel with each other and with the download instead of in lock step.
type chanReader struct {
	ch  chan []byte
	cur []byte
	err *error // the producer's error, read after ch is closed
}

func (r *chanReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		b, ok := <-r.ch
		if !ok {
			if *r.err != nil {
				return 0, *r.err
			}
			return 0, io.EOF
		}
		r.cur = b
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// fanout copies src to w and to every consumer; each consumer runs in its
// own goroutine and must read its reader to EOF (drain after an early
// failure). It returns the bytes copied and the first read or write error.
func fanout(w io.Writer, src io.Reader, consumers ...func(io.Reader)) (int64, error) {
	var prodErr error
	readers := make([]*chanReader, len(consumers))
	done := make(chan struct{}, len(consumers))
	for i, c := range consumers {
		readers[i] = &chanReader{ch: make(chan []byte, 16), err: &prodErr}
		go func(c func(io.Reader), r *chanReader) {
			c(r)
			done <- struct{}{}
		}(c, readers[i])
	}
	var n int64
	for {
		// Full chunks: a TLS body returns ~16 KiB per Read, and a fresh
		// buffer per Read would allocate far more than it carries.
		buf := make([]byte, 512<<10)
		m, err := io.ReadFull(src, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if m > 0 {
			chunk := buf[:m]
			if _, werr := w.Write(chunk); werr != nil && prodErr == nil {
				prodErr = werr
			}
			n += int64(m)
			for _, r := range readers {
				r.ch <- chunk
			}
			if prodErr != nil {
				break
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			prodErr = err
			break
		}
	}
	for _, r := range readers {
		close(r.ch)
	}
	for range consumers {
		<-done
	}
	return n, prodErr
}
