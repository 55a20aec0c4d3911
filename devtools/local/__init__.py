"""`make dev`: the whole service on one machine, no Docker, no AWS account (DESIGN.md, "Local
stack"). The supervisor (`python -m devtools.local`) runs an AWS emulator, creates the
template's resources in it, and plays API Gateway, the SQS event source mapping and S3's
notifications for the unchanged handlers, each function in worker processes of its own."""
