#!/usr/bin/env python3
"""Sequential POSTs into one channel as it grows, and the latest page, against a running daemon.
Usage: agent-path.py PORT MESSAGES (the daemon on 127.0.0.1:PORT, account and token as agent-path.sh sets them)."""
import base64, http.client, json, statistics, sys, time, urllib.parse
port, total = int(sys.argv[1]), int(sys.argv[2])
auth = "Basic " + base64.b64encode(b"AC0000000000000000000000000000beef:benchtoken").decode()
conn = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, form=None):
    body = urllib.parse.urlencode(form) if form else None
    headers = {"Authorization": auth}
    if body: headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse(); data = r.read()
    assert r.status < 300, (r.status, data[:300])
    return json.loads(data)
svc = call("POST", "/chat/v2/Services", {"FriendlyName": "bench"})["sid"]
ch = call("POST", f"/chat/v2/Services/{svc}/Channels", {"FriendlyName": "long", "Type": "private"})["sid"]
path = f"/chat/v2/Services/{svc}/Channels/{ch}/Messages"
times = []
body = "x" * 200
for i in range(total):
    t = time.perf_counter(); call("POST", path, {"From": "agent", "Body": body}); times.append(time.perf_counter() - t)
def ms(xs): return f"median {statistics.median(xs)*1000:.2f} ms, p99 {sorted(xs)[int(len(xs)*0.99)-1]*1000:.2f} ms"
print(f"POST, first 200 messages: {ms(times[:200])}")
print(f"POST, last 200 of {total}: {ms(times[-200:])}")
pages = []
for _ in range(200):
    t = time.perf_counter(); call("GET", path + "?Order=desc&PageSize=50"); pages.append(time.perf_counter() - t)
print(f"GET latest page of 50 in {total}: {ms(pages)}")
