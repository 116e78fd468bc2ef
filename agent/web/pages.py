"""The status page as HTML, rendered on the server from a `Snapshot` (pure: no I/O).

Every value goes through `html.escape`; the only markup that is not escaped is the slip preview,
which `slip_preview` builds from escaped text and a generated SVG.
"""

from __future__ import annotations

import html
import time

from .snapshot import DeviceRow, Snapshot

STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:.6em 1em;display:flex;gap:1.5em;align-items:center;flex-wrap:wrap}
header h1{font-size:1.1em;margin:0}header form{margin-left:auto}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));grid-auto-flow:dense;gap:1em;padding:1em}
section{background:#fff;border-radius:6px;padding:.4em 1em 1em;box-shadow:0 1px 2px #0002;min-width:0}
h2{font-size:1em;margin:.6em 0}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.25em .4em;border-bottom:1px solid #e4e6ea;vertical-align:top;overflow-wrap:break-word}
.path{word-break:break-all}.badge,button,.time{white-space:nowrap}
th{font-weight:600;color:#475467}.num{text-align:right}
.badge{display:inline-block;padding:0 .5em;border-radius:1em;font-weight:600;font-size:.9em}
.ok{background:#d8f3dc;color:#1b5e20}.warn{background:#fff3cd;color:#7a5200}.bad{background:#fde2e1;color:#9b1c1c}
.muted{color:#667085}.notice{margin:1em 1em 0;padding:.5em 1em;background:#e0ecff;border-radius:6px}
button{font:inherit;padding:.2em .8em;cursor:pointer}
.slip{font:13px/1.3 monospace;background:#fff;border:1px solid #ccc;padding:.5em;margin:.5em 0}
.slip p{margin:0;white-space:pre-wrap}.slip .title{font-weight:700;text-align:center;font-size:1.2em}
.slip .center,.slip .small,.slip .cut{text-align:center}.slip .small{font-size:.8em}.slip .cut{color:#999}
.slip .qr{display:block;width:60%;max-width:200px;margin:.3em auto}
.login{max-width:26em;margin:4em auto}.login input{width:100%;font:inherit;padding:.3em;box-sizing:border-box}
.error{color:#9b1c1c}
@media (min-width:1300px){#outbox{grid-column:span 2}}
"""

# Long-polls /panel for the next change and swaps it in; without JavaScript, <noscript> reloads.
LIVE_JS = """\
(async () => {
  const live = document.getElementById("live");
  let version = live.dataset.version;
  for (;;) {
    try {
      const r = await fetch("panel?after=" + version, {cache: "no-store", credentials: "same-origin"});
      if (r.status === 401) { location.href = "login"; return; }
      if (r.ok) { version = r.headers.get("X-Version"); live.innerHTML = await r.text(); continue; }
    } catch (e) { /* the agent is restarting: try again shortly */ }
    await new Promise((done) => setTimeout(done, 2000));
  }
})();
"""

_DEVICE_WARN = {"connecting", "paper_near_end", "unknown"}
_STATE_LABELS = {"paper_end": "paper out",  # the printer's word for it is "paper end"
                 "not_escpos": "not an ESC/POS printer"}  # fmt: skip
_OUTBOX_STATES = ("pending", "in_flight", "done", "dead", "superseded")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def clock(at: float, now: float | None = None) -> str:
    """The till's local time; the date only when it is not today."""
    moment, today = time.localtime(at), time.localtime(now)
    same_day = moment[:3] == today[:3]
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", moment)


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def _badge(text: str, tone: str) -> str:
    return f'<span class="badge {tone}">{_e(text)}</span>'


def _state_label(state: str) -> str:
    return _STATE_LABELS.get(state, state.replace("_", " "))


def _level_tone(level: str) -> str:
    return "bad" if level in ("ERROR", "CRITICAL") else "warn"


def _device_tone(device: DeviceRow) -> str:
    if device.state in _DEVICE_WARN:
        return "warn"
    return "ok" if device.working else "bad"


def _document(title: str, body: str, *, script: bool = False) -> str:
    head = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{STYLE}</style>')  # fmt: skip
    if script:
        head += '<script src="live.js" defer></script><noscript><meta http-equiv="refresh" content="5"></noscript>'
    return f"{head}</head><body>{body}</body></html>"


def login_page(error: str = "") -> str:
    message = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    body = f"""<div class="login"><section><h2>POS Agent status: log in</h2>
<p>Enter the ECR token of this till (the content of the ECR token file,
<code>ecr.token_file</code> in the agent's configuration).</p>{message}
<form method="post" action="login"><p><label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required></p>
<p><button type="submit">Log in</button></p></form></section></div>"""
    return _document("POS Agent: log in", body)


def status_page(snapshot: Snapshot, *, csrf: str, version: int, notice: str = "", slip_html: str = "") -> str:
    header = (f'<header><h1>POS Agent</h1><span>{_e(snapshot.store)}</span>'
              f'<span class="muted">version {_e(snapshot.version)}</span>'
              f'<form method="post" action="logout"><input type="hidden" name="csrf" value="{_e(csrf)}">'
              f'<button type="submit">Log out</button></form></header>')  # fmt: skip
    note = f'<p class="notice" role="status">{_e(notice)}</p>' if notice else ""
    live = f'<div id="live" data-version="{version}">{panel(snapshot, csrf=csrf, slip_html=slip_html)}</div>'
    return _document(f"POS Agent: {snapshot.store}", header + note + live, script=True)


def panel(snapshot: Snapshot, *, csrf: str, slip_html: str = "") -> str:
    """The part of the page that follows the agent's state (swapped in by LIVE_JS)."""
    return "<main>" + "".join((
        _overview(snapshot), _origins(snapshot), _devices(snapshot, csrf), _outbox(snapshot, csrf),
        _prints(snapshot, slip_html), _scans(snapshot), _errors(snapshot),
    )) + f'</main><p class="muted" style="margin:0 1em 1em">as of {_e(clock(snapshot.taken_at))}</p>'  # fmt: skip


def _overview(s: Snapshot) -> str:
    network = _badge("online", "ok") if s.online else _badge("offline", "bad")
    since = f' <span class="muted">since {_e(clock(s.online_since))}</span>' if s.online_since else ""
    return (f'<section id="overview"><h2>Agent</h2><table>'
            f"<tr><th>Uptime</th><td>{_e(duration(s.uptime_seconds))}</td></tr>"
            f'<tr><th>Alipay</th><td id="network">{network}{since}<br>'
            f'<span class="muted path">{_e(s.gateway)}</span></td></tr>'
            f'<tr><th>ECR connections</th><td id="ecr">{s.ecr_connections}</td></tr>{_fleet(s)}'
            "</table></section>")  # fmt: skip


_FLEET_TONES = {"connected": "ok", "connecting": "warn", "disconnected": "bad"}


def _fleet(s: Snapshot) -> str:
    """The chain's link to headquarters, when configured: state, broker, last delivery, why not connected."""
    f = s.fleet
    if f is None:
        return ""
    state = _badge(f.state, _FLEET_TONES.get(f.state, "warn"))
    since = f' <span class="muted">since {_e(clock(f.since))}</span>' if f.since else ""
    delivered = f"last callback {clock(f.last_delivery)}" if f.last_delivery else "no callback yet"
    counts = f"{delivered}; {f.received} received, {f.dropped} dropped" + (
        f", {f.retrying} waiting for the outbox" if f.retrying else "")
    problem = f'<br><span class="error">{_e(f.last_error)}</span>' if f.last_error else ""
    return (f'<tr><th>Fleet link</th><td id="fleet">{state}{since}<br><span class="muted path">{_e(f.broker)}</span>'
            f'<br><span class="muted">{_e(counts)}</span>{problem}</td></tr>')  # fmt: skip


def _origins(s: Snapshot) -> str:
    """Web POS origins paired for the ECR WebSocket: who may drive the till from a browser."""
    if s.origins is None:
        return ""
    if not s.origins:
        table = ('<p class="muted">No web POS origin is paired. On this PC: posagent ecr pair --origin '
                 "https://your-pos.example</p>")  # fmt: skip
    else:
        rows = "".join(
            f"<tr><td>{_e(o.origin)}</td><td>{_e(clock(o.paired_at)) if o.paired_at else 'not yet'}"
            f"{' (pairing code pending)' if o.pending_code else ''}</td>"
            f"<td>{_e(clock(o.last_used)) if o.last_used else 'never'}</td><td>{o.live}</td></tr>"
            for o in s.origins)  # fmt: skip
        table = ("<table><tr><th>Origin</th><th>Paired</th><th>Last used</th><th>Open now</th></tr>"
                 f"{rows}</table>")  # fmt: skip
    return f'<section id="origins"><h2>Web POS origins</h2>{table}</section>'


def _devices(s: Snapshot, csrf: str) -> str:
    rows = "".join(
        f'<tr data-device="{_e(d.device)}"><td>{_e(d.kind)}</td><td class="path">{_e(d.device)}</td>'
        f'<td class="state">{_badge(_state_label(d.state), _device_tone(d))}</td><td>{_e(d.detail)}</td></tr>'
        for d in s.devices
    )
    table = (f"<table><tr><th>Kind</th><th>Device</th><th>State</th><th>Detail</th></tr>{rows}</table>"
             if rows else '<p class="muted">No devices configured.</p>')  # fmt: skip
    button = ""
    if s.printer_configured:
        button = (f'<form method="post" action="print/test"><input type="hidden" name="csrf" value="{_e(csrf)}">'
                  '<p><button type="submit" id="test-print">Test print</button></p></form>')  # fmt: skip
    return f'<section id="devices"><h2>Devices</h2>{table}{button}</section>'


def _outbox(s: Snapshot, csrf: str) -> str:
    if s.outbox_error:
        return f'<section id="outbox"><h2>Outbox</h2><p class="error">{_e(s.outbox_error)}</p></section>'
    head = "".join(f"<th>{_e(state.replace('_', ' '))}</th>" for state in _OUTBOX_STATES)
    rows = "".join(
        f"<tr><td>{_e(kind)}</td>" + "".join(f"<td>{counts.get(state, 0)}</td>" for state in _OUTBOX_STATES) + "</tr>"
        for kind, counts in sorted(s.outbox_counts.items())
    )
    counts = f"<table><tr><th>Kind</th>{head}</tr>{rows}</table>" if rows else '<p class="muted">No jobs yet.</p>'
    age = ("nothing waiting" if s.oldest_pending_age is None
           else f"oldest waiting job: {duration(s.oldest_pending_age)}")  # fmt: skip
    dead = ""
    if s.dead_jobs:
        items = "".join(
            f'<tr data-job="{job.id}"><td>{job.id}</td><td>{_e(job.kind)}</td><td>{job.attempts}</td>'
            f'<td class="path">{_e(job.last_error)}</td><td class="time">{_e(clock(job.updated_at))}</td><td>'
            f'<form method="post" action="outbox/retry"><input type="hidden" name="csrf" value="{_e(csrf)}">'
            f'<input type="hidden" name="job_id" value="{job.id}"><button type="submit">Retry</button></form></td></tr>'
            for job in s.dead_jobs
        )
        dead = (f'<h2>Dead jobs</h2><p class="muted">Alipay refused these or they ran out of attempts. Fix the cause '
                "(see the error), then retry.</p><table><tr><th>Job</th><th>Kind</th><th>Attempts</th><th>Error</th>"
                f"<th>Last try</th><th></th></tr>{items}</table>")  # fmt: skip
    return f'<section id="outbox"><h2>Outbox</h2>{counts}<p class="muted">{_e(age)}</p>{dead}</section>'


def _prints(s: Snapshot, slip_html: str) -> str:
    rows = "".join(
        f'<tr data-print="{_e(p.job_id)}"><td>{_e(p.job_id)}</td><td>{_e(p.kind)}</td>'
        f"<td>{_badge(p.state, 'ok' if p.state == 'printed' else 'bad' if p.state == 'failed' else 'warn')}</td>"
        f"<td>{_e(p.reason)}</td><td>"
        + (f'<a href="slips/{_e(p.job_id)}">slip</a>' if p.has_preview else "")
        + "</td></tr>"
        for p in s.prints
    )
    table = (f"<table><tr><th>Job</th><th>Kind</th><th>State</th><th>Reason</th><th></th></tr>{rows}</table>"
             if rows else '<p class="muted">Nothing printed since the agent started.</p>')  # fmt: skip
    latest = f"<h2>Last slip</h2>{slip_html}" if slip_html else ""
    return f'<section id="prints"><h2>Print jobs</h2>{table}{latest}</section>'


def _scans(s: Snapshot) -> str:
    rows = "".join(
        f"<tr><td class=time>{_e(clock(scan.at))}</td><td>{_e(scan.code_class.replace('_', ' '))}</td>"
        f"<td><code>{_e(scan.masked)}</code></td><td class=path>{_e(scan.device)}</td></tr>"
        for scan in s.scans
    )
    table = (f"<table><tr><th>Time</th><th>Code</th><th>Read</th><th>Device</th></tr>{rows}</table>"
             if rows else '<p class="muted">No scans since the agent started.</p>')  # fmt: skip
    return f'<section id="scans"><h2>Last scans</h2>{table}</section>'


def _errors(s: Snapshot) -> str:
    rows = "".join(
        f"<tr><td class=time>{_e(clock(e.at))}</td><td>{_badge(e.level, _level_tone(e.level))}</td><td>"""
        f"{_e(e.message)}<br><span class=muted>{_e(e.logger)}</span></td></tr>"
        for e in s.errors
    )
    table = (f"<table><tr><th>Time</th><th>Level</th><th>Message</th></tr>{rows}</table>"
             if rows else '<p class="muted">No warnings or errors since the agent started.</p>')  # fmt: skip
    return f'<section id="errors"><h2>Recent warnings and errors</h2>{table}</section>'


def slip_page(job_id: str, slip_html: str) -> str:
    body = (f'<header><h1>POS Agent</h1><span>slip {_e(job_id)}</span><a style="color:#fff" href="../">back</a>'
            f'</header><main><section>{slip_html}</section></main>')  # fmt: skip
    return _document(f"Slip {job_id}", body)


def message_page(title: str, text: str) -> str:
    body = (f'<div class="login"><section><h2>{_e(title)}</h2><p>{_e(text)}</p>'
            '<p><a href="/">Back to the status page</a></p></section></div>')  # fmt: skip
    return _document(title, body)
