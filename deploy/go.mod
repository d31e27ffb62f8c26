module github.com/palmerops/penguins/deploy

go 1.26.0

require (
	github.com/PuerkitoBio/goquery v1.13.0
	github.com/palmerops/penguins/pkg v0.0.0
)

require (
	github.com/andybalholm/cascadia v1.3.4 // indirect
	github.com/sajari/regression v1.0.1 // indirect
	golang.org/x/net v0.59.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)

replace github.com/palmerops/penguins/pkg => ../pkg
