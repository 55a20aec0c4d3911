"""`make dev`: the whole service on one machine, no Docker, no AWS account (docs/local-stack.md).
The supervisor (`python -m devtools.local`, __main__.py) creates the template's resources in
the emulator and plays Lambda's part for the unchanged handlers, one module per concern:

- emulator.py: moto in server mode, or the emulator AWS_ENDPOINT_URL names;
- api.py: API Gateway's REST proxy integration, routed by the template's Api events;
- event_sources.py: the SQS event source mapping, S3 notifications, the notification tail;
- functions.py: each function's version and its execution environments (processes);
- bootstrap.py: the runtime inside an execution environment (the runtime set only);
- snapstart.py: init once, then environments restored from that snapshot;
- reload.py: saved changes deployed as new versions.
"""
