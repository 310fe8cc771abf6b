"""Every adapter of vaxpass: the real implementations of the ports (Protocols) that services and
workers declare. Apart from the composition root (which builds the clients), the only production
code that imports boto3, botocore, pynamodb or an HTTP client (ruff's TID251 enforces it), and the
place their errors become domain errors (`raise ... from e`).

Shared infrastructure sits at this level (table models, AWS error translation, SQS, S3 streaming,
the counters table); each context's adapters sit in `adapters/<context>/`, one module per adapter
family. README.md ("Layout") maps each context's ports to their adapters and test fakes.
"""
