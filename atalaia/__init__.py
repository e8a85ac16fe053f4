"""Atalaia: self-hosted crisis management for technical-support teams."""
