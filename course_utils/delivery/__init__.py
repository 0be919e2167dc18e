"""Delivering the course to students: hub links, the submission exchange, student editions and exports.

Each module is imported by itself (``from course_utils.delivery.exchange import ...``); this package
imports nothing, so the grader can use the exchange without pulling in the rest.
"""
