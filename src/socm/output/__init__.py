"""What comes out for people: figures (``plots``) and the one-file HTML report (``report``)."""
