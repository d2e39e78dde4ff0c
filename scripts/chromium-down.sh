#!/usr/bin/env bash
# Nothing to stop: chromium runs only for the duration of each screenshot.
exit 0
