"""Kontaxa aux-service: internal; reads S3 and SSM Parameter Store."""
