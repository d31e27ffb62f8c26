// Package deploy holds the tests of the deployment files beside it: the
// released model board, the compose environments, and the compose
// end-to-end test (`make compose-test`).
package deploy
