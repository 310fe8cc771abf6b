"""AWS adapters: the only place boto3/botocore errors are seen and translated to domain errors."""
