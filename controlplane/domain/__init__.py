"""Domain rules: what a request may ask for, decided without HTTP (DESIGN §6).

The modules here raise the errors of `controlplane.domain.errors`; `controlplane.api` maps them to answers.
"""
