module greenhub.invalid/bench/http

go 1.19
