#!/usr/bin/env python3
"""compat/console/console_test.py -- the web console's pages in headless Chromium.

    console_test.py --bootstrap HOST:PORT --http http://127.0.0.1:PORT --work DIR --screenshots DIR

Run by compat/console/run.sh against a `runnel serve` it started (docs/CONSOLE.md). Setup with
confluent-kafka: a topic of 3 partitions, 5 records with keys, JSON values and a header (where
Kafka's partitioner puts them, acks=all), and a consumer group that consumes 2 of them and
commits every partition of the topic (the offset after what it consumed, 0 where it consumed
nothing), so the group's lag is 3. The broker serves the admin actions: the last cases reset the
group's offsets to latest, create a topic and delete it through the pages' forms. Then Selenium drives Debian's chromium through chromedriver:
each page is loaded fresh (from about:blank), its content checked against what the setup made,
a screenshot saved (SCREENSHOTS/NN-name.png) and the browser's console log read: a SEVERE entry
fails the page's `.no_console_errors` case (every entry is kept in WORK/browser-console.log),
except that SEVERE entries of a known, reported console bug (KNOWN_CONSOLE_BUGS) make it a SKIP
naming the bug.

Prints `PASS name` / `FAIL name: why` lines; exit status 1 when any case failed. Every wait is
bounded (WAIT seconds per condition, 20 s per page load).
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

WAIT = 15.0
RECORDS = 5
CONSUMED = 2
PARTITIONS = 3

# Console-log entries of known console bugs, reported by crates/broker's owner to fix: a page
# whose only SEVERE entries match one of these prints SKIP (naming the bug) instead of FAIL.
# Remove an entry once fixed; while listed and no longer seen, an INFO line says so.
KNOWN_CONSOLE_BUGS = {
    # None now. (favicon.ico answered 404 until the console answered it 204.)
}
known_seen = set()

failed = 0


def result(name, ok, why=""):
    global failed
    if ok:
        print(f"PASS {name}", flush=True)
    else:
        failed += 1
        why = " ".join(str(why).split())[:350]
        print(f"FAIL {name}: {why}", flush=True)
    return ok


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def http_json(base, path, timeout=5):
    with urllib.request.urlopen(base + path, timeout=timeout) as response:
        return json.loads(response.read())


# --- setup with confluent-kafka -------------------------------------------------------------

def setup(bootstrap, topic, group):
    """Returns (records, counts, committed): the produced records as dicts, the record count per
    partition, and the offsets the group committed per partition."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=15)[topic].result(timeout=20)
        result("setup.topic", True)
    except Exception as e:  # noqa: BLE001 -- any failure is the case's reason
        result("setup.topic", False, f"create {topic} with {PARTITIONS} partitions: {e}")
        return None

    records = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})

    def delivered(err, msg):
        if err is None:
            records.append({"key": msg.key(), "value": msg.value(), "partition": msg.partition(),
                            "offset": msg.offset(), "headers": msg.headers()})
        else:
            log(f"delivery failed: {err}")

    for i in range(1, RECORDS + 1):
        value = {"order": i, "item": "widget", "qty": i * 2, "tags": ["a", "b"]}
        producer.produce(topic, key=f"order-{i}".encode(), value=json.dumps(value).encode(),
                         headers=[("source", b"console-test")], on_delivery=delivered)
    left = producer.flush(20)
    if not result("setup.produce", left == 0 and len(records) == RECORDS,
                  f"{len(records)} of {RECORDS} records acknowledged, {left} still queued"):
        return None
    counts = {p: 0 for p in range(PARTITIONS)}
    for r in records:
        counts[r["partition"]] += 1
    log(f"records per partition: {counts}")

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 10000})
    consumed = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(consumed) < CONSUMED and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                log(f"consumer: {msg.error()}")
                continue
            consumed.append((msg.partition(), msg.offset()))
        if len(consumed) < CONSUMED:
            result("setup.group", False, f"consumed {len(consumed)} of {CONSUMED} records within 30 s")
            return None
        committed = {p: 0 for p in range(PARTITIONS)}
        for p, o in consumed:
            committed[p] = max(committed[p], o + 1)
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in committed.items()], asynchronous=False)
    except KafkaException as e:
        result("setup.group", False, f"consume and commit: {e}")
        return None
    finally:
        consumer.close()
    log(f"group {group} committed {committed}")
    result("setup.group", True)
    return records, counts, committed


# --- the browser -----------------------------------------------------------------------------

def start_browser(work, profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch a driver
    binary = "/usr/lib/chromium/chromium" if os.access("/usr/lib/chromium/chromium", os.X_OK) else shutil.which("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1366,1800", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-features=Translate,MediaRouter",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver"), log_output=os.path.join(work, "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    return driver


# What a page shows, read in one script: the title, paragraphs, every table's cells (innerText),
# an error message if the page shows one, and the hash.
SNAPSHOT_JS = """
const main = document.getElementById('main');
if (!main) return null;
const text = (n) => n ? n.innerText : null;
return {
  hash: location.hash,
  h2: text(main.querySelector('h2')),
  paras: Array.from(main.querySelectorAll('p')).map(p => p.innerText),
  error: text(main.querySelector('.error')),
  tables: Array.from(main.querySelectorAll('table')).map(t =>
    Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.innerText))),
};
"""


class Page:
    """One browser, numbered screenshots and the console log kept in a file."""

    def __init__(self, driver, base, work, shots):
        self.driver, self.base, self.shots = driver, base, shots
        self.console_log = open(os.path.join(work, "browser-console.log"), "w")
        self.n = 0

    def snapshot(self):
        return self.driver.execute_script(SNAPSHOT_JS)

    def open(self, route):
        """Load the console fresh at #ROUTE (from about:blank, so each page is a full load)."""
        self.driver.get("about:blank")
        self.drain()
        self.driver.get(f"{self.base}/#{route}")

    def wait(self, check, timeout=WAIT, error_expected=False):
        """Poll check(snapshot) -> None when satisfied or a reason string; returns None or the
        last reason after the bound. An error shown by the page ends the wait at once unless
        ERROR_EXPECTED."""
        deadline = time.monotonic() + timeout
        why = "nothing checked"
        while True:
            try:
                snap = self.snapshot()
                why = check(snap) if snap else "no #main element"
            except Exception as e:  # noqa: BLE001 -- the reason is reported
                why = f"{type(e).__name__}: {e}"
            if why is None:
                return None
            if snap and snap.get("error") and not error_expected:
                return f"{why}; the page shows the error {snap['error']!r}"
            if time.monotonic() >= deadline:
                return f"{why} (after {timeout:.0f} s)"
            time.sleep(0.2)

    def screenshot(self, name):
        self.n += 1
        path = os.path.join(self.shots, f"{self.n:02d}-{name}.png")
        try:
            ok = self.driver.save_screenshot(path)
        except Exception as e:  # noqa: BLE001
            log(f"screenshot {path}: {e}")
            ok = False
        return path if ok else None

    def drain(self):
        entries = self.driver.get_log("browser")
        for e in entries:
            self.console_log.write(f"{e.get('timestamp')} {e.get('level')} {e.get('source', '')} {e.get('message')}\n")
        self.console_log.flush()
        return entries

    def console_errors(self, name):
        """Every console entry since the last drain, written down; the SEVERE ones returned."""
        self.console_log.write(f"--- {name}\n")
        return [e for e in self.drain() if e.get("level") == "SEVERE"]


def page_case(page, name, route, check, shot, settle=0.0):
    """Load ROUTE fresh, wait for CHECK, keep a screenshot and check the console log."""
    try:
        page.open(route)
        why = page.wait(check)
    except Exception as e:  # noqa: BLE001
        why = f"{type(e).__name__}: {e}"
    if settle:
        time.sleep(settle)  # let periodic refreshes (the topics page's, every 2 s) run once
    path = page.screenshot(shot)
    ok = result(name, why is None, why)
    console_case(f"{name}.no_console_errors", page.console_errors(name))
    if path is None:
        result(f"{name}.screenshot", False, "could not save a screenshot")
    return ok


def console_case(name, severe):
    """PASS without SEVERE entries; SKIP when each is a KNOWN_CONSOLE_BUGS one; else FAIL."""
    unknown, known = [], set()
    for e in severe:
        bug = next((b for b, pat in KNOWN_CONSOLE_BUGS.items() if pat.search(e.get("message", ""))), None)
        if bug:
            known.add(bug)
        else:
            unknown.append(e)
    known_seen.update(known)
    if unknown or not known:
        return result(name, not unknown, "; ".join(f"{e.get('level')} {e.get('message')}" for e in unknown))
    print(f"SKIP {name}: only known console bugs logged SEVERE: {', '.join(sorted(known))} "
          "(KNOWN_CONSOLE_BUGS in compat/console/console_test.py)", flush=True)
    return True


def cell_table(snap, first_header):
    for t in snap["tables"]:
        if t and t[0] and t[0][0] == first_header:
            return t
    return None


def norm(s):
    return "".join((s or "").split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--http", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--screenshots", required=True)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.screenshots, exist_ok=True)
    base = args.http.rstrip("/")
    run = uuid.uuid4().hex[:8]
    topic, group = f"console-orders-{run}", f"console-billing-{run}"
    kafka_port = args.bootstrap.rsplit(":", 1)[1]

    # The HTTP listener answers (it starts with the broker; bounded wait).
    deadline, cluster, why = time.monotonic() + 15, None, ""
    while cluster is None and time.monotonic() < deadline:
        try:
            cluster = http_json(base, "/v1/cluster")
        except (OSError, ValueError) as e:
            why = str(e)
            time.sleep(0.2)
    if not result("http.listener", cluster is not None, f"GET {base}/v1/cluster: {why}"):
        return 1

    made = setup(args.bootstrap, topic, group)
    records, counts, committed = made if made else ([], {}, {})
    expected_lag = sum(counts.get(p, 0) - committed.get(p, 0) for p in range(PARTITIONS)) if made else None
    try:
        api_topic = http_json(base, f"/v1/topics/{topic}")
        log(f"API topic: {json.dumps(api_topic)}")
        api_group = http_json(base, f"/v1/groups/{group}")
        log(f"API group: {json.dumps(api_group)}")
    except (OSError, ValueError) as e:
        log(f"API: {e}")

    profile = tempfile.mkdtemp(prefix="runnel-console-chromium-")
    try:
        driver = start_browser(args.work, profile)
    except Exception as e:  # noqa: BLE001
        result("browser.start", False, f"{type(e).__name__}: {e} (see chromedriver.log)")
        shutil.rmtree(profile, ignore_errors=True)
        return 1
    page = Page(driver, base, args.work, args.screenshots)
    node = str(cluster["node_id"])
    try:
        # #/ -- the cluster: its id, this node with its host and port, up.
        def cluster_check(s):
            if s["h2"] != f"Cluster {cluster['cluster_id']}":
                return f"title {s['h2']!r}, not 'Cluster {cluster['cluster_id']}'"
            if not any(f"Node {node}" in p for p in s["paras"]):
                return f"no 'Node {node}' in {s['paras']}"
            t = cell_table(s, "Node")
            if not t:
                return f"no nodes table in {s['tables']}"
            rows = [r for r in t[1:] if r[0] == node]
            if not rows:
                return f"node {node} not in the nodes table {t}"
            if rows[0][1] != "127.0.0.1" or rows[0][2] != kafka_port or rows[0][5] != "up":
                return f"node row {rows[0]}, expected host 127.0.0.1, port {kafka_port}, state up"
            return None
        page_case(page, "page.cluster", "/", cluster_check, "cluster")

        # #/topics -- the topic with 3 partitions, replication 1; its link opens the topic page.
        def topics_check(s):
            t = cell_table(s, "Topic")
            if s["h2"] != "Topics" or not t:
                return f"title {s['h2']!r}, tables {s['tables']}"
            rows = [r for r in t[1:] if r[0] == topic]
            if not rows:
                return f"{topic} not listed in {[r[0] for r in t[1:]]}"
            if rows[0][1:3] != [str(PARTITIONS), "1"]:
                return f"row {rows[0]}: expected {PARTITIONS} partitions, replication 1"
            if not all(c.endswith("/s") for c in rows[0][3:6]):
                return f"throughput cells {rows[0][3:6]} are not rates"
            return None
        if page_case(page, "page.topics", "/topics", topics_check, "topics", settle=2.5):
            try:
                from selenium.webdriver.common.by import By
                driver.find_element(By.LINK_TEXT, topic).click()
                why = page.wait(lambda s: None if s["hash"] == f"#/topics/{topic}" and s["h2"] == f"Topic {topic}"
                                else f"hash {s['hash']!r}, title {s['h2']!r}")
            except Exception as e:  # noqa: BLE001
                why = f"{type(e).__name__}: {e}"
            result("page.topics.link", why is None, why)

        # #/topics/NAME -- a row per partition with leader, replicas and ISR (node 1, the only
        # replica), and the high watermark = the records produced there.
        def topic_check(s):
            if s["h2"] != f"Topic {topic}":
                return f"title {s['h2']!r}"
            t = cell_table(s, "Partition")
            if not t:
                return f"no partitions table in {s['tables']}"
            if t[0][:4] != ["Partition", "Leader", "Replicas", "ISR"]:
                return f"partition table headers {t[0]}"
            rows = {r[0]: r for r in t[1:]}
            if sorted(rows) != [str(p) for p in range(PARTITIONS)]:
                return f"partition rows {sorted(rows)}, expected 0..{PARTITIONS - 1}"
            for p in range(PARTITIONS):
                r = rows[str(p)]
                if r[1:4] != [node, node, node]:
                    return f"partition {p}: leader/replicas/ISR {r[1:4]}, expected {node}/{node}/{node}"
                if made and r[5] != str(counts[p]):
                    return f"partition {p}: high watermark {r[5]!r}, expected {counts[p]}"
            return None
        page_case(page, "page.topic", f"/topics/{topic}", topic_check, "topic")

        # The message browser: the first record's partition and offset, shown as text, JSON, hex.
        if made:
            browse_cases(page, records[0], topic)
        else:
            result("page.topic.browse", False, "no records were produced (setup failed)")

        # #/topics/NAME for a topic that does not exist: the API's error is shown (the 404 of the
        # API request itself is an expected console entry here, so only written down).
        try:
            page.open("/topics/no-such-topic-" + run)
            why = page.wait(lambda s: None if s["error"] and "UNKNOWN_TOPIC_OR_PARTITION" in s["error"]
                            else f"shows error {s['error']!r}, expected UNKNOWN_TOPIC_OR_PARTITION",
                            error_expected=True)
        except Exception as e:  # noqa: BLE001
            why = f"{type(e).__name__}: {e}"
        page.screenshot("topic-unknown")
        result("page.topic_unknown.error_shown", why is None, why)
        page.console_errors("page.topic_unknown")

        # #/groups -- the group, Empty once its consumer left; its link opens the group page.
        def groups_check(s):
            t = cell_table(s, "Group")
            if s["h2"] != "Groups" or not t:
                return f"title {s['h2']!r}, tables {s['tables']}"
            rows = [r for r in t[1:] if r[0] == group]
            if not rows:
                return f"{group} not listed in {[r[0] for r in t[1:]]}"
            if rows[0][3] != "consumer":
                return f"row {rows[0]}: protocol type is not 'consumer'"
            return None
        if page_case(page, "page.groups", "/groups", groups_check, "groups"):
            try:
                from selenium.webdriver.common.by import By
                driver.find_element(By.LINK_TEXT, group).click()
                why = page.wait(lambda s: None if s["hash"] == f"#/groups/{group}" and s["h2"] == f"Group {group}"
                                else f"hash {s['hash']!r}, title {s['h2']!r}")
            except Exception as e:  # noqa: BLE001
                why = f"{type(e).__name__}: {e}"
            result("page.groups.link", why is None, why)

        # #/groups/ID -- total lag = what the setup left unconsumed; per partition: committed,
        # high watermark and lag.
        def group_check(s):
            if s["h2"] != f"Group {group}":
                return f"title {s['h2']!r}"
            if not made:
                return "no known lag (setup failed)"
            if not any(p.endswith(f"total lag {expected_lag}") for p in s["paras"]):
                return f"no 'total lag {expected_lag}' in {s['paras']}"
            t = cell_table(s, "Topic")
            if not t or t[0] != ["Topic", "Partition", "Committed", "High watermark", "Lag"]:
                return f"offsets table {t}"
            rows = {r[1]: r for r in t[1:] if r[0] == topic}
            want = {str(p): [topic, str(p), str(committed[p]), str(counts[p]), str(counts[p] - committed[p])]
                    for p in range(PARTITIONS)}
            if rows != want:
                return f"offset rows {sorted(rows.values())}, expected {sorted(want.values())}"
            return None
        page_case(page, "page.group", f"/groups/{group}", group_check, "group")

        # The admin actions (the suite's broker has http.console.admin.enable=true).
        if cluster.get("console_admin"):
            admin_cases(page, base, topic, group, counts if made else None, run)
        else:
            result("admin.enabled", False, "/v1/cluster says console_admin is off")
    finally:
        try:
            driver.quit()
        except Exception as e:  # noqa: BLE001
            log(f"driver.quit: {e}")
        page.console_log.close()
        shutil.rmtree(profile, ignore_errors=True)

    for bug in sorted(set(KNOWN_CONSOLE_BUGS) - known_seen):
        print(f"INFO known console bug {bug} was not seen: remove it from KNOWN_CONSOLE_BUGS", flush=True)
    shots = sorted(os.listdir(args.screenshots))
    empty = [s for s in shots if os.path.getsize(os.path.join(args.screenshots, s)) < 1000]
    result("screenshots", len(shots) >= 8 and not empty,
           f"{len(shots)} screenshots in {args.screenshots}, too small: {empty}")
    return 1 if failed else 0


def admin_cases(page, base, topic, group, counts, run):
    """Reset the group's offsets to latest from its page (lag 0), create a topic from #/topics,
    and delete it from its page, typing its name; each outcome checked on the page and in the API."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = page.driver

    def fill(form_id, values, selects=()):
        form = driver.find_element(By.ID, form_id)
        for name, v in values:
            box = form.find_element(By.NAME, name)
            box.clear()
            box.send_keys(v)
        for name, v in selects:
            Select(form.find_element(By.NAME, name)).select_by_value(v)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def outcome_is(prefix):
        return lambda s: None if any(p.startswith(prefix) for p in s["paras"]) else f"no '{prefix}...' in {s['paras']}"

    def case(name, route, act, check, shot, api_check):
        try:
            page.open(route)
            page.wait(lambda s: None if s["h2"] else "not loaded")
            act()
            why = page.wait(check) or api_check()
        except Exception as e:  # noqa: BLE001
            why = f"{type(e).__name__}: {e}"
        page.screenshot(shot)
        result(name, why is None, why)
        console_case(f"{name}.no_console_errors", page.console_errors(name))

    def lag_zero():
        g = http_json(base, f"/v1/groups/{group}")
        return None if g["lag"] == 0 else f"API lag {g['lag']} after the reset, expected 0"
    def reset_shown(s):
        return outcome_is(f"Reset 3 partitions of {topic}")(s) or (
            None if any(p.endswith("total lag 0") for p in s["paras"]) else f"no 'total lag 0' in {s['paras']}")
    case("admin.reset_offsets", f"/groups/{group}",
         lambda: fill("reset-offsets", [("topic", topic)], [("to", "latest")]),
         reset_shown, "admin-reset-offsets",
         lag_zero if counts is not None else lambda: "no records were produced (setup failed)")

    made = f"console-made-{run}"
    def listed():
        names = [t["name"] for t in http_json(base, "/v1/topics")["topics"]]
        return None if made in names else f"{made} not in the API's topics"
    case("admin.create_topic", "/topics",
         lambda: fill("create-topic", [("name", made), ("partitions", "2")]),
         outcome_is(f"Created topic {made} (2 partitions)"), "admin-create-topic", listed)

    def gone():
        try:
            http_json(base, f"/v1/topics/{made}")
            return f"{made} still served by the API"
        except urllib.error.HTTPError as e:
            return None if e.code == 404 else f"GET {made}: {e}"
    case("admin.delete_topic", f"/topics/{made}",
         lambda: fill("delete-topic", [("confirm", made)]),
         outcome_is(f"Deleted topic {made}"), "admin-delete-topic", gone)


def browse_cases(page, rec, topic):
    """Browse REC's partition from its offset: key, value and header as text, then JSON, then hex."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = page.driver
    key, value = rec["key"].decode(), rec["value"].decode()
    obj = json.loads(value)
    offset = str(rec["offset"])

    def row_of(s):
        t = cell_table(s, "Offset")
        if not t:
            return None, f"no records table in {s['tables']}"
        if t[0] != ["Offset", "Timestamp", "Key", "Value", "Headers"]:
            return None, f"records table headers {t[0]}"
        rows = [r for r in t[1:] if r[0] == offset]
        if not rows:
            return None, f"no record at offset {offset} in {[r[0] for r in t[1:]]} ({s['paras']})"
        return rows[0], None

    def submit(fmt):
        form = driver.find_element(By.ID, "browse")
        for name, v in (("partition", str(rec["partition"])), ("offset", offset)):
            box = form.find_element(By.NAME, name)
            box.clear()
            box.send_keys(v)
        Select(form.find_element(By.NAME, "format")).select_by_value(fmt)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def text_check(s):
        row, why = row_of(s)
        if why:
            return why
        if row[2] != key or row[3] != value:
            return f"key {row[2]!r} value {row[3]!r}, expected {key!r} {value!r}"
        if row[4] != "source=console-test":
            return f"headers {row[4]!r}, expected 'source=console-test'"
        return None

    def json_check(s):
        row, why = row_of(s)
        if why:
            return why
        if "\n" not in row[3]:
            return f"value {row[3]!r} is not shown as indented JSON"
        if json.loads(row[3]) != obj:
            return f"value {row[3]!r} is not {obj}"
        if row[2] != key:  # the key is not JSON: shown as text
            return f"key {row[2]!r}, expected {key!r}"
        return None

    def hex_check(s):
        row, why = row_of(s)
        if why:
            return why
        if norm(row[2]) != rec["key"].hex() or norm(row[3]) != rec["value"].hex():
            return f"key {row[2]!r} value {row[3]!r}, expected {rec['key'].hex()} {rec['value'].hex()}"
        return None

    for fmt, check in (("text", text_check), ("json", json_check), ("hex", hex_check)):
        name = f"page.topic.browse.{fmt}"
        try:
            submit(fmt)
            why = page.wait(check)
        except Exception as e:  # noqa: BLE001
            why = f"{type(e).__name__}: {e}"
        page.screenshot(f"topic-browse-{fmt}")
        result(name, why is None, why)
        console_case(f"{name}.no_console_errors", page.console_errors(name))


if __name__ == "__main__":
    sys.exit(main())
