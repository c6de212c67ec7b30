"""`portal provisionerd`: an isolated build runner that reaches Portal over HTTPS only."""
