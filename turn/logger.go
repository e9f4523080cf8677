package turn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory hands pion an slog-backed logger. pion logs per-packet events
// (refused permissions, undecodable datagrams) at Info and below, which a
// remote peer can trigger at will, so those go to Debug.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{log: f.log.With("pion", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) emit(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

// emitf formats only when the level is enabled: pion logs on every packet.
func (l slogLogger) emitf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l slogLogger) Trace(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l slogLogger) Tracef(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }
func (l slogLogger) Debug(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l slogLogger) Debugf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args...) }
func (l slogLogger) Info(msg string)                   { l.emit(slog.LevelDebug, msg) }
func (l slogLogger) Infof(format string, args ...any)  { l.emitf(slog.LevelDebug, format, args...) }
func (l slogLogger) Warn(msg string)                   { l.emit(slog.LevelWarn, msg) }
func (l slogLogger) Warnf(format string, args ...any)  { l.emitf(slog.LevelWarn, format, args...) }
func (l slogLogger) Error(msg string)                  { l.emit(slog.LevelError, msg) }
func (l slogLogger) Errorf(format string, args ...any) { l.emitf(slog.LevelError, format, args...) }
