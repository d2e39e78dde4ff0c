"""The science: architecture graphs, training/evaluation, LLM client, agents, strategies,
controller loop. The pure core (graph, records, strategies, prompts) imports no torch,
submitit, boto3 or hnswlib at import time."""
