module github.com/palmerops/penguins/pkg

go 1.26

require (
	github.com/sajari/regression v1.0.1
	gonum.org/v1/gonum v0.17.0
)
