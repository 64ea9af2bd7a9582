#!/bin/sh
# Entrypoint of the base image: run the given command as the container's
# main process.
exec "$@"
