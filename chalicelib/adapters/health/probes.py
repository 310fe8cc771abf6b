"""Health probes for the AWS services the functions use; each touches one real resource."""
from __future__ import annotations

from chalicelib.adapters.aws_errors import aws_call
from chalicelib.health.service import FunctionProbe


def aws_probes(c) -> list[FunctionProbe]:
    s = c.settings

    def dynamodb() -> None:
        with aws_call("dynamodb"):
            c.client("dynamodb").describe_table(TableName=s.table("records"))

    def sqs() -> None:
        with aws_call("sqs"):
            c.client("sqs").get_queue_url(QueueName=s.queue("cleaning"))

    def s3() -> None:
        with aws_call("s3"):
            c.client("s3").head_bucket(Bucket=s.bucket("intake"))

    def kms() -> None:
        with aws_call("kms"):
            c.client("kms").describe_key(KeyId=s.key_alias("dsc-es256"))

    return [FunctionProbe("dynamodb", dynamodb), FunctionProbe("sqs", sqs),
            FunctionProbe("s3", s3), FunctionProbe("kms", kms)]
