"""`python -m mminspect.lab.load`: the load, abuse and soak suite, against a server on loopback.

    python -m mminspect.lab.load [--clients 8] [--requests 60] [--seed 0] [--json out.json]
    python -m mminspect.lab.load --soak 200          # 200 requests, a third of them large images
    python -m mminspect.lab.load --url http://127.0.0.1:7860/    # a running server (loopback only)
    python -m mminspect.lab.load --hosting [--api-calls 100]     # the hosting probes (hosting.py)

It starts the app (`python app.py`, GRADIO_SERVER_NAME=127.0.0.1, its own gradio cache folder) on
a free port, warms it up with one ordinary request of each kind, then runs `--clients` threads,
each with its own gradio_client.Client and session, through a seeded plan of mixed requests:
text inspect (short / long), redraw, bertviz, attribution (one method), compare-all on a short
text, image inspect (example scene, 3000 px and, in the soak, 6000 px JPEG uploads), every image
method, and the abuse cases (each must get the app's own clear message or a correct
result, never a traceback, and the app keeps serving). After the run a second server with
MMINSPECT_ALLOW_CUSTOM_MODELS=0 is asked about server paths: its messages must not say whether
a path exists.

Every request ends as exactly one of
    ok        a result, no message (or an information note);
    rejected  the app's (or gradio's) clear refusal: a limit, a validation message, a full queue
              or a client already holding its share of model slots (then the client waits 2 s
              before its next request, as a person would);
    errored   "Something went wrong…", gradio's "upstream … raised an exception", no message;
    hung      no answer within --timeout seconds (the run fails).
Invariant: submitted = ok + rejected + errored, hung = 0. Exit status 1 if the invariant
fails, a request hung, an ordinary request errored, an abuse check failed, the app stopped
serving, or the server's RSS at the end is more than --rss-limit (15 %) above its RSS after the
warm-up. RSS is read from /proc/<pid>/status (VmRSS, VmHWM) every half second. Before the end
every client asks a short text and the example scene in its own session (CLOSING): gradio keeps
a session's last results for an hour after its client leaves, so the end shows what large
requests leave behind, and "after_run" (before those) what the open sessions hold.

The package: messages (what is sent, how answers are read), client, cases, server,
runner, hosting (spoofed addresses, bad values to every endpoint, events nobody listens to,
upload quota, state of API sessions) and __main__ (the command line and the report).
"""
from .cases import ABUSE, NORMAL, clip_kwargs, make_plan, queue_refused
from .client import Inputs, Session
from .messages import PATHS_PROBED, classify_exception, classify_message
from .runner import Runner, probe_paths, run
from .server import free_port, loopback_url

__all__ = ["ABUSE", "Inputs", "NORMAL", "PATHS_PROBED", "Runner", "Session", "classify_exception", "classify_message", "clip_kwargs", "free_port", "loopback_url", "make_plan", "probe_paths", "queue_refused", "run"]
