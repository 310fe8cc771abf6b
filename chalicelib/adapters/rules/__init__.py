"""DynamoDB adapter of the business rule store."""
