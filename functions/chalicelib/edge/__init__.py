"""The HTTP edge: requests read and checked, errors mapped to answers, CORS, CloudFormation answers."""
