"""Data access: the only layer that talks to DynamoDB, S3 and SNS or builds their expressions."""
