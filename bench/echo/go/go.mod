module greenhub.invalid/bench/echo

go 1.19
