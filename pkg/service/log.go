package service

import (
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns a JSON logger to stdout at level, tagged with the
// service name, environment and version.
func NewLogger(service, env, version string, level zapcore.Level) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	// Durations as float milliseconds; fields carrying them end in _ms.
	enc.EncodeDuration = func(d time.Duration, pe zapcore.PrimitiveArrayEncoder) { pe.AppendFloat64(float64(d) / 1e6) }
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(os.Stdout), level)
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(zapcore.Lock(os.Stderr))).
		With(zap.String("service", service), zap.String("env", env), zap.String("version", version))
}
