"""Create an S3 bucket if it is missing (MinIO or the moto stand-in), then exit 0.

    python /opt/s3_bucket.py BUCKET     # endpoint and keys from LAB5_S3_* variables

Lab 5 writes batch outputs under s3://BUCKET/...; neither MinIO nor moto starts with buckets.
"""

import os
import sys
import time

import boto3
from botocore.exceptions import BotoCoreError, ClientError

bucket = sys.argv[1]
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["LAB5_S3_ENDPOINT_URL"],
    region_name=os.environ.get("LAB5_S3_REGION", "us-east-1"),
    aws_access_key_id=os.environ.get("LAB5_S3_ACCESS_KEY_ID"),
    aws_secret_access_key=os.environ.get("LAB5_S3_SECRET_ACCESS_KEY"),
)
for attempt in range(30):
    try:
        names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in names:
            s3.create_bucket(Bucket=bucket)
        print(f"bucket {bucket} ready at {os.environ['LAB5_S3_ENDPOINT_URL']}")
        sys.exit(0)
    except (BotoCoreError, ClientError) as exc:
        print(f"attempt {attempt + 1}: {exc}")
        time.sleep(2)
sys.exit(1)
