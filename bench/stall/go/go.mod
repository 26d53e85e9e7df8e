module greenhub/bench/stall

go 1.19
