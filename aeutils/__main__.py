from aeutils.cli import main

raise SystemExit(main())
