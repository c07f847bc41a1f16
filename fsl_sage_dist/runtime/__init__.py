"""Ranks and roles: process group, launcher, the server and client-host round drivers."""
