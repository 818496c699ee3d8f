"""Appwrite Lite for Heroku: the dyno side (launcher, bridge, router) and the release side."""

__version__ = "0.1.0"
