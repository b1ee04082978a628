"""Where screenshots are kept: the store interface, S3 and the local store, the upload-signing rules."""
