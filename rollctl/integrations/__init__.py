"""Glue between rollctl and the systems around a rollout that are not commands: the GitHub Action's driver.

Unlike the commands, this code talks to a network service (GitHub's REST API), and only when run by the
action; nothing in the commands imports it.
"""
