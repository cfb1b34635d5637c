"""Small helpers every app may use: words, forms, downloads, CSV, PDF and uploads.

This is the bottom layer: it imports no Doorstep app."""
