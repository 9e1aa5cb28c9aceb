"""Traefik: its static configuration (:mod:`proxy.traefik`) and the route table it reads from Redis (:mod:`proxy.routes`)."""
