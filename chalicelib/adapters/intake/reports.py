"""S3 adapter of the rejected-rows report of a batch (reports bucket)."""
from __future__ import annotations

import csv
import io
import tempfile
from functools import partial
from typing import Sequence

from chalicelib.adapters.aws_errors import aws_call
from chalicelib.intake.errors import BadFile
from chalicelib.intake.records import FieldError
from chalicelib.intake.report import REPORT_COLUMNS, escape_cell


class S3ReportStore:
    """Rejected rows go to reports/<batch>/parts/<chunk>.csv as each chunk finishes (so a crash
    loses none), then are joined into reports/<batch>/rejected-rows.csv when the batch ends."""

    def __init__(self, s3, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def _prefix(self, batch_id: str) -> str:
        return f"reports/{batch_id}"

    def put_part(self, batch_id: str, chunk_no: int, rejections: Sequence[FieldError]) -> None:
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        for r in rejections:
            w.writerow([str(r.row_number), escape_cell(r.field), r.code, escape_cell(r.message),
                        escape_cell(r.original)])
        with aws_call("s3 put report part"):
            self._s3.put_object(Bucket=self._bucket, Key=f"{self._prefix(batch_id)}/parts/{chunk_no:08d}.csv",
                                Body=buf.getvalue().encode("utf-8"), ContentType="text/csv")

    def compose(self, batch_id: str, file_error: BadFile | None) -> str | None:
        key = f"{self._prefix(batch_id)}/rejected-rows.csv"
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
            out.write(("\ufeff" + ",".join(REPORT_COLUMNS) + "\r\n").encode("utf-8"))
            if file_error is not None:
                row = io.StringIO(newline="")
                csv.writer(row).writerow(["", "(file)", file_error.code, escape_cell(file_error.message), ""])
                out.write(row.getvalue().encode("utf-8"))
            with aws_call("s3 list report parts"):
                pages = self._s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self._bucket, Prefix=f"{self._prefix(batch_id)}/parts/")
                for page in pages:
                    for obj in page.get("Contents", []):  # listed in key order = chunk order
                        body = self._s3.get_object(Bucket=self._bucket, Key=obj["Key"])["Body"]
                        for block in iter(partial(body.read, 1024 * 1024), b""):
                            out.write(block)
            out.seek(0)
            with aws_call("s3 put report"):
                self._s3.upload_fileobj(out, self._bucket, key, ExtraArgs={"ContentType": "text/csv"})
        return key

    def link(self, key: str, expires_s: int = 3600) -> dict:
        with aws_call("s3 presign report"):
            url = self._s3.generate_presigned_url("get_object", Params={"Bucket": self._bucket, "Key": key},
                                                  ExpiresIn=expires_s)
        return {"bucket": self._bucket, "key": key, "url": url}
