module greenhub.invalid/bench/core

go 1.19
