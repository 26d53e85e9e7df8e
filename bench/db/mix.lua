-- SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
-- bench/db: /db with every tenth request /slow?ms=50.
local n = 0
request = function()
  n = n + 1
  if n % 10 == 0 then return wrk.format("GET", "/slow?ms=50") end
  return wrk.format("GET", "/db")
end
