-- wrk script: one small non-stream chat completion per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"MODEL","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}'
wrk.body = wrk.body:gsub("MODEL", os.getenv("BENCH_MODEL") or "bench")
