module greenhub.example/bench/handoff

go 1.19
